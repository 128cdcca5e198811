import {
  AttachRolePolicyCommand,
  CreateRoleCommand,
  GetRoleCommand,
  IAMClient,
  NoSuchEntityException,
  paginateListRoles,
} from "@aws-sdk/client-iam";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { quantile, summarize } from "../../../bench/lib/stats.ts";
import { startThrottlingProxy, TokenBucket } from "../../../bench/lib/throttling-proxy.ts";
import {
  ApiCallCounter,
  callsOf,
  isReadOperation,
  retriesOf,
} from "../../../testkit/aws/api-calls.ts";
import { localClientConfig } from "../../../testkit/aws/local-aws.ts";
import { type MotoServer, startMotoServer } from "../../../testkit/aws/moto.ts";

const TRUST = JSON.stringify({
  Version: "2012-10-17",
  Statement: [
    { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
  ],
});

// One emulator for the file; each test uses its own role and parameter names.
let moto: MotoServer;

beforeAll(async () => {
  moto = await startMotoServer();
});

afterAll(async () => {
  await moto.stop();
});

describe("ApiCallCounter", () => {
  it("counts a known sequence of IAM and SSM calls by operation, reads apart from writes", async () => {
    // Prepare
    const counter = new ApiCallCounter();
    const iam = new IAMClient(localClientConfig(moto.endpoint));
    const ssm = new SSMClient(localClientConfig(moto.endpoint));
    counter.attach(iam);
    counter.attach(ssm);

    // Act
    await iam.send(new CreateRoleCommand({ RoleName: "counted", AssumeRolePolicyDocument: TRUST }));
    await iam.send(
      new AttachRolePolicyCommand({
        RoleName: "counted",
        PolicyArn: "arn:aws:iam::aws:policy/ReadOnlyAccess",
      }),
    );
    await iam.send(new GetRoleCommand({ RoleName: "counted" }));
    await expect(iam.send(new GetRoleCommand({ RoleName: "missing" }))).rejects.toBeInstanceOf(
      NoSuchEntityException,
    );
    await ssm.send(new PutParameterCommand({ Name: "/counted/arn", Value: "v", Type: "String" }));
    await ssm.send(new GetParameterCommand({ Name: "/counted/arn" }));
    const tally = counter.snapshot();

    // Assess
    expect(callsOf(tally, "IAM")).toEqual({
      reads: { GetRole: 2 },
      writes: { CreateRole: 1, AttachRolePolicy: 1 },
      readCount: 2,
      writeCount: 2,
    });
    expect(callsOf(tally, "SSM")).toEqual({
      reads: { GetParameter: 1 },
      writes: { PutParameter: 1 },
      readCount: 1,
      writeCount: 1,
    });
    expect(tally.failed).toEqual({ "IAM:GetRole:NoSuchEntityException": 1 });
    expect(tally.attempts).toEqual(tally.calls);
    expect(retriesOf(tally, "IAM")).toBe(0);
    iam.destroy();
    ssm.destroy();
  });

  it("measures only the calls made inside the measured work", async () => {
    // Prepare
    const counter = new ApiCallCounter();
    const iam = new IAMClient(localClientConfig(moto.endpoint));
    counter.attach(iam);
    await iam.send(new CreateRoleCommand({ RoleName: "before", AssumeRolePolicyDocument: TRUST }));

    // Act
    const { tally } = await counter.measure(() =>
      iam.send(new GetRoleCommand({ RoleName: "before" })),
    );

    // Assess
    expect(tally.calls).toEqual({ "IAM:GetRole": 1 });
    expect(counter.snapshot().calls).toEqual({ "IAM:CreateRole": 1, "IAM:GetRole": 1 });
    iam.destroy();
  });

  it("counts one call per page of a paginated listing", async () => {
    // Prepare
    const counter = new ApiCallCounter();
    const iam = new IAMClient(localClientConfig(moto.endpoint));
    for (const name of ["page-a", "page-b", "page-c"]) {
      await iam.send(
        new CreateRoleCommand({ RoleName: name, Path: "/paged/", AssumeRolePolicyDocument: TRUST }),
      );
    }
    counter.attach(iam);

    // Act
    let pages = 0;
    let roles = 0;
    for await (const page of paginateListRoles(
      { client: iam, pageSize: 1 },
      { PathPrefix: "/paged/" },
    )) {
      pages++;
      roles += page.Roles?.length ?? 0;
    }

    // Assess
    expect(roles).toBe(3);
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(counter.snapshot().calls).toEqual({ "IAM:ListRoles": pages });
    iam.destroy();
  });
});

describe("throttling proxy", () => {
  it("refuses IAM writes beyond the bucket with IAM's Throttling error, which the SDK retries and the counter counts", async () => {
    // Prepare: a frozen clock, so the bucket never refills: two writes pass, then none.
    const proxy = await startThrottlingProxy({
      target: moto.endpoint,
      bucket: new TokenBucket(1, 2, () => 0),
    });
    const counter = new ApiCallCounter();
    const iam = new IAMClient({
      ...localClientConfig(proxy.endpoint),
      retryMode: "standard",
      maxAttempts: 2,
    });
    counter.attach(iam);

    // Act
    await iam.send(new CreateRoleCommand({ RoleName: "first", AssumeRolePolicyDocument: TRUST }));
    await iam.send(new CreateRoleCommand({ RoleName: "second", AssumeRolePolicyDocument: TRUST }));
    const refused = await iam
      .send(new CreateRoleCommand({ RoleName: "third", AssumeRolePolicyDocument: TRUST }))
      .catch((error: unknown) => error as Error & { $metadata?: { httpStatusCode?: number } });
    await iam.send(new GetRoleCommand({ RoleName: "first" }));
    const tally = counter.snapshot();
    const stats = proxy.stats();
    await proxy.stop();
    iam.destroy();

    // Assess
    expect(refused).toMatchObject({ name: "Throttling", message: "Rate exceeded" });
    expect((refused as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBe(
      400,
    );
    expect(tally.calls).toEqual({ "IAM:CreateRole": 3, "IAM:GetRole": 1 });
    expect(tally.attempts).toEqual({ "IAM:CreateRole": 4, "IAM:GetRole": 1 });
    expect(tally.throttled).toEqual({ "IAM:CreateRole": 2 });
    expect(tally.failed).toEqual({ "IAM:CreateRole:Throttling": 1 });
    expect(retriesOf(tally, "IAM")).toBe(1);
    expect(stats.forwardedWrites).toEqual({ CreateRole: 2 });
    expect(stats.throttledWrites).toEqual({ CreateRole: 2 });
    expect(stats.forwardedReads).toBe(1);
  });
});

describe("TokenBucket", () => {
  it("lets through its capacity at once, then one token per 1/rate seconds", () => {
    // Prepare
    let now = 0;
    const bucket = new TokenBucket(10, 2, () => now);

    // Act
    const burst = [bucket.take(), bucket.take(), bucket.take()];
    now = 50;
    const tooEarly = bucket.take();
    now = 100;
    const refilled = [bucket.take(), bucket.take()];

    // Assess
    expect(burst).toEqual([true, true, false]);
    expect(tooEarly).toBe(false);
    expect(refilled).toEqual([true, false]);
  });
});

describe("operation kinds and statistics", () => {
  it("classifies reads by operation name and everything else as writes", () => {
    expect(
      ["GetRole", "ListRoles", "GetParametersByPath", "DescribeTable"].map(isReadOperation),
    ).toEqual([true, true, true, true]);
    expect(
      ["CreateRole", "TagRole", "PutParameter", "AddTagsToResource", "DeleteRole"].map(
        isReadOperation,
      ),
    ).toEqual([false, false, false, false, false]);
  });

  it("reports order statistics with linear interpolation", () => {
    expect(quantile([1, 2, 3, 4, 5], 0.5)).toBe(3);
    expect(quantile([1, 2, 3, 4, 5], 0.25)).toBe(2);
    expect(quantile([10, 20], 0.5)).toBe(15);
    expect(summarize([5, 1, 3])).toMatchObject({ n: 3, median: 3, min: 1, max: 5 });
  });
});
