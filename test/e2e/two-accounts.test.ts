/**
 * End to end with two AWS accounts: `npm start`'s program in a child process (its own
 * moto_server, receiver on HTTP, queue poller, provisioner) with a permissions file that routes
 * the production spaces to 222222222222; driven only through signed HTTP webhooks, asserted by
 * reading both accounts through the SDK (moto keeps per-account state; AssumeRole into an
 * account's role returns credentials acting there).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { IAMClient } from "@aws-sdk/client-iam";
import { SSMClient } from "@aws-sdk/client-ssm";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localClientConfig } from "../../scripts/lib/local-aws.ts";
import { auditEvent, postDelivery, signedDelivery } from "../../scripts/lib/spacelift-events.ts";
import { eventually, readParameter, readRole, testClients } from "../support/aws.ts";
import { PRODUCTION_SPACE, STAGING_SPACE } from "../support/fixtures.ts";

const HOST = "acme.app.spacelift.io";
const SECRET = "e2e-webhook-secret-0123456789";
const TARGET = "222222222222";
const TARGET_BOUNDARY = `arn:aws:iam::${TARGET}:policy/spacelift-boundary`;
const STACK = "two-accounts";
const ROLE = `spacelift-stack-${STACK}`;
const PARAMETER = `/spacelift/acme/stacks/${STACK}/role-arn`;

let child: ChildProcess;
let output = "";
let url = "";
let service: ReturnType<typeof testClients>;
let target: { iam: IAMClient; ssm: SSMClient };

beforeAll(async () => {
  child = spawn(process.execPath, ["--import", "tsx", "scripts/local.ts"], {
    env: {
      ...process.env,
      AWS_ENDPOINT_URL: "",
      PORT: "0",
      SPACELIFT_HOSTNAME: HOST,
      SPACELIFT_WEBHOOK_SECRET: SECRET,
      PERMISSIONS_CONFIG: JSON.stringify({
        accounts: [
          {
            id: TARGET,
            vendingRoleArn: `arn:aws:iam::${TARGET}:role/spacelift-vending`,
            spaces: ["production-*"],
            permissionsBoundaryArn: TARGET_BOUNDARY,
          },
        ],
        default: { managedPolicyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"] },
      }),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const read = (label: string) => new RegExp(`${label}:\\s+(\\S+)`).exec(output)?.[1];
  await eventually(
    async () => read("Dead letters"),
    (value) => value !== undefined || child.exitCode !== null,
    30_000,
  );
  if (child.exitCode !== null) throw new Error(`npm start exited: ${output}`);
  url = read("Receiver") ?? "";
  const endpoint = read("AWS endpoint") ?? "";
  service = testClients(endpoint);
  const { Credentials } = await new STSClient(localClientConfig(endpoint)).send(
    new AssumeRoleCommand({
      RoleArn: `arn:aws:iam::${TARGET}:role/inspector`,
      RoleSessionName: "e2e",
    }),
  );
  const credentials = {
    accessKeyId: Credentials?.AccessKeyId ?? "",
    secretAccessKey: Credentials?.SecretAccessKey ?? "",
    sessionToken: Credentials?.SessionToken ?? "",
  };
  target = {
    iam: new IAMClient({ endpoint, region: "us-east-1", credentials }),
    ssm: new SSMClient({ endpoint, region: "us-east-1", credentials }),
  };
});

afterAll(async () => {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGINT");
  await exited;
});

const send = (action: "stack.create" | "stack.update" | "stack.delete", space?: string) =>
  postDelivery(
    url,
    signedDelivery(
      auditEvent(action, {
        account: "acme",
        stack: STACK,
        ...(space !== undefined && { space }),
        timestamp: Date.now(),
      }),
      SECRET,
    ),
  );

describe("npm start with two AWS accounts, over HTTP", () => {
  it("creates, moves between accounts and deletes a stack's role from signed webhooks", async () => {
    // Create in a production space: the role appears in 222222222222, trusted by its provider.
    expect((await send("stack.create", PRODUCTION_SPACE)).status).toBe(202);
    // The role is created before its ARN is published: wait for both parameters, then read it.
    await eventually(
      async () => [
        await readParameter(service.ssm, PARAMETER),
        await readParameter(target.ssm, PARAMETER),
      ],
      (published) => published.every((parameter) => parameter !== undefined),
    );
    const created = await readRole(target.iam, ROLE);
    expect(created?.arn).toBe(`arn:aws:iam::${TARGET}:role/spacelift/${ROLE}`);
    expect(created?.boundary).toBe(TARGET_BOUNDARY);
    expect(created?.trust.Statement[0].Principal.Federated).toBe(
      `arn:aws:iam::${TARGET}:oidc-provider/${HOST}`,
    );
    expect((await readParameter(service.ssm, PARAMETER))?.value).toBe(created?.arn);
    expect((await readParameter(target.ssm, PARAMETER))?.value).toBe(created?.arn);
    expect(await readRole(service.iam, ROLE)).toBeUndefined();

    // Move to staging: the role moves to the service's account, the target's copy goes.
    expect((await send("stack.update", STAGING_SPACE)).status).toBe(202);
    // The old account's role goes before its parameter: once the parameter is gone, both are.
    await eventually(
      () => readParameter(target.ssm, PARAMETER).catch(() => "being deleted"),
      (parameter) => parameter === undefined,
    );
    expect(await readRole(target.iam, ROLE)).toBeUndefined();
    const moved = await readRole(service.iam, ROLE);
    expect(moved?.arn).toBe(`arn:aws:iam::123456789012:role/spacelift/${ROLE}`);
    expect((await readParameter(service.ssm, PARAMETER))?.value).toBe(moved?.arn);

    // Delete: nothing left in either account.
    expect((await send("stack.delete")).status).toBe(202);
    // The role is deleted before its parameter (read while it is being deleted, its tags may
    // already be gone): once the parameter is gone, both are.
    await eventually(
      () => readParameter(service.ssm, PARAMETER).catch(() => "being deleted"),
      (parameter) => parameter === undefined,
    );
    expect(await readRole(service.iam, ROLE)).toBeUndefined();
    expect(await readRole(target.iam, ROLE)).toBeUndefined();
  });
});
