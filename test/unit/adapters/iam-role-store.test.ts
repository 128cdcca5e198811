import {
  AttachRolePolicyCommand,
  CreateRoleCommand,
  DeleteRoleCommand,
  DetachRolePolicyCommand,
  EntityAlreadyExistsException,
  GetRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  LimitExceededException,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
  NoSuchEntityException,
} from "@aws-sdk/client-iam";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { IamRoleStore } from "../../../functions/adapters/iam-role-store.ts";
import { AwsCallError, TrustPolicyRejectedError } from "../../../functions/core/errors.ts";
import type { RoleSpec } from "../../../functions/core/ports.ts";

const iamMock = mockClient(IAMClient);
const store = new IamRoleStore(new IAMClient({ region: "us-east-1" }));
const meta = { $metadata: {} };
const trust = {
  Version: "2012-10-17",
  Statement: [
    {
      Effect: "Allow",
      Principal: { Federated: "arn:aws:iam::123456789012:oidc-provider/acme.app.spacelift.io" },
      Action: "sts:AssumeRoleWithWebIdentity",
    },
  ],
};

const spec: RoleSpec = {
  name: "spacelift-stack-x",
  path: "/spacelift/",
  description: "d",
  maxSessionDuration: 3600,
  trustPolicy: trust,
  permissionsBoundaryArn: "arn:aws:iam::123456789012:policy/boundary",
  managedPolicyArns: [],
  inlinePolicies: {},
  tags: { "managed-by": "spacelift-role-vending" },
};

beforeEach(() => iamMock.reset());

describe("IamRoleStore", () => {
  it("describes a role, decoding IAM's URL-encoded policy documents", async () => {
    iamMock.on(GetRoleCommand).resolves({
      Role: {
        RoleName: "r",
        RoleId: "id",
        Arn: "arn:aws:iam::123456789012:role/spacelift/r",
        Path: "/spacelift/",
        CreateDate: new Date(),
        AssumeRolePolicyDocument: encodeURIComponent(JSON.stringify(trust)),
        MaxSessionDuration: 7200,
        PermissionsBoundary: {
          PermissionsBoundaryArn: "arn:b",
          PermissionsBoundaryType: "PermissionsBoundaryPolicy",
        },
        Tags: [{ Key: "managed-by", Value: "spacelift-role-vending" }],
      },
    });
    iamMock.on(ListAttachedRolePoliciesCommand).resolves({
      AttachedPolicies: [{ PolicyArn: "arn:z" }, { PolicyArn: "arn:a" }],
    });
    iamMock.on(ListRolePoliciesCommand).resolves({ PolicyNames: ["inline"] });
    iamMock.on(GetRolePolicyCommand).resolves({
      RoleName: "r",
      PolicyName: "inline",
      PolicyDocument: encodeURIComponent('{"Version":"2012-10-17","Statement":[]}'),
    });
    expect(await store.describe("r")).toEqual({
      name: "r",
      arn: "arn:aws:iam::123456789012:role/spacelift/r",
      path: "/spacelift/",
      description: "",
      maxSessionDuration: 7200,
      trustPolicy: trust,
      permissionsBoundaryArn: "arn:b",
      managedPolicyArns: ["arn:a", "arn:z"],
      inlinePolicies: { inline: { Version: "2012-10-17", Statement: [] } },
      tags: { "managed-by": "spacelift-role-vending" },
    });
  });

  it("describes a missing role as undefined without listing its policies", async () => {
    iamMock.on(GetRoleCommand).rejects(new NoSuchEntityException({ message: "no", ...meta }));
    expect(await store.describe("missing")).toBeUndefined();
    expect(iamMock.commandCalls(ListAttachedRolePoliciesCommand)).toHaveLength(0);
  });

  it("creates a role with its trust policy, path, boundary, session and tags in one call", async () => {
    iamMock.on(CreateRoleCommand).resolves({
      Role: { Arn: "arn:aws:iam::123456789012:role/spacelift/spacelift-stack-x" } as never,
    });
    expect(await store.create(spec)).toEqual({
      arn: "arn:aws:iam::123456789012:role/spacelift/spacelift-stack-x",
    });
    expect(iamMock.commandCalls(CreateRoleCommand)[0]?.args[0].input).toEqual({
      RoleName: "spacelift-stack-x",
      Path: "/spacelift/",
      Description: "d",
      MaxSessionDuration: 3600,
      AssumeRolePolicyDocument: JSON.stringify(trust),
      PermissionsBoundary: "arn:aws:iam::123456789012:policy/boundary",
      Tags: [{ Key: "managed-by", Value: "spacelift-role-vending" }],
    });
  });

  it("reports an existing role as 'exists' rather than an error", async () => {
    iamMock
      .on(CreateRoleCommand)
      .rejects(new EntityAlreadyExistsException({ message: "x", ...meta }));
    expect(await store.create(spec)).toBe("exists");
  });

  it("wraps any other IAM failure with its cause and the operation", async () => {
    const cause = new LimitExceededException({ message: "too many roles", ...meta });
    iamMock.on(CreateRoleCommand).rejects(cause);
    const error = await store.create(spec).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AwsCallError);
    expect((error as Error).message).toBe("IAM CreateRole failed for spacelift-stack-x");
    expect((error as Error).cause).toBe(cause);
  });

  it("treats already-removed things as removed (delete, detach)", async () => {
    iamMock.on(DeleteRoleCommand).rejects(new NoSuchEntityException({ message: "no", ...meta }));
    iamMock
      .on(DetachRolePolicyCommand)
      .rejects(new NoSuchEntityException({ message: "no", ...meta }));
    expect(await store.delete("gone")).toBe("absent");
    await expect(store.detachPolicy("gone", "arn:p")).resolves.toBeUndefined();
  });

  it("does not hide a missing role when attaching a policy", async () => {
    iamMock
      .on(AttachRolePolicyCommand)
      .rejects(new NoSuchEntityException({ message: "no", ...meta }));
    await expect(store.attachPolicy("gone", "arn:p")).rejects.toBeInstanceOf(AwsCallError);
  });

  it("says whether a role is readable yet", async () => {
    iamMock
      .on(GetRoleCommand)
      .rejectsOnce(new NoSuchEntityException({ message: "no", ...meta }))
      .resolves({});
    expect(await store.isReadable("r")).toBe(false);
    expect(await store.isReadable("r")).toBe(true);
  });
});

describe("trust documents IAM would refuse", () => {
  const starTrust = {
    Version: "2012-10-17",
    Statement: [{ Effect: "Deny", Principal: "*", Action: "sts:AssumeRoleWithWebIdentity" }],
  };

  it("are refused by name before CreateRole or UpdateAssumeRolePolicy is sent", async () => {
    await expect(store.create({ ...spec, trustPolicy: starTrust })).rejects.toThrow(
      TrustPolicyRejectedError,
    );
    await expect(store.updateTrustPolicy("spacelift-stack-x", starTrust)).rejects.toThrow(
      /bare-star-principal/,
    );
    await expect(
      store.updateTrustPolicy("spacelift-stack-x", { ...trust, Version: undefined }),
    ).rejects.toThrow(/version/);

    expect(iamMock.calls()).toHaveLength(0);
  });
});
