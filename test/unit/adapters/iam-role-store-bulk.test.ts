/**
 * IamRoleStore.describeAllUnder with a mocked IAM client: the paging moto does not do
 * (moto 5.2 ignores MaxItems and Marker on GetAccountAuthorizationDetails), AWS's URL-encoded
 * documents, and the path filter the API lacks.
 */
import {
  GetAccountAuthorizationDetailsCommand,
  GetRoleCommand,
  IAMClient,
  ListRolesCommand,
  ServiceFailureException,
} from "@aws-sdk/client-iam";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { IamRoleStore } from "../../../functions/adapters/iam-role-store.ts";
import { AwsCallError } from "../../../functions/core/errors.ts";
import type { RolePage } from "../../../functions/core/ports.ts";

const iamMock = mockClient(IAMClient);
const store = new IamRoleStore(new IAMClient({ region: "us-east-1" }));
const PATH = "/spacelift/";
const trust = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "sts:AssumeRole" }] };
const inline = {
  Version: "2012-10-17",
  Statement: [{ Effect: "Deny", Action: "*", Resource: "*" }],
};

function listed(name: string, path = PATH) {
  return {
    RoleName: name,
    RoleId: name,
    Arn: `arn:aws:iam::123456789012:role${path}${name}`,
    Path: path,
    CreateDate: new Date(),
    Description: `role ${name}`,
    MaxSessionDuration: 7200,
  };
}

function detail(name: string, path = PATH) {
  return {
    RoleName: name,
    Arn: `arn:aws:iam::123456789012:role${path}${name}`,
    Path: path,
    AssumeRolePolicyDocument: encodeURIComponent(JSON.stringify(trust)),
    RolePolicyList: [
      { PolicyName: "revoked", PolicyDocument: encodeURIComponent(JSON.stringify(inline)) },
    ],
    AttachedManagedPolicies: [
      { PolicyArn: "arn:aws:iam::aws:policy/ViewOnlyAccess" },
      { PolicyArn: "arn:aws:iam::aws:policy/ReadOnlyAccess" },
    ],
    PermissionsBoundary: {
      PermissionsBoundaryType: "PermissionsBoundaryPolicy" as const,
      PermissionsBoundaryArn: "arn:aws:iam::123456789012:policy/boundary",
    },
    Tags: [{ Key: "managed-by", Value: "spacelift-role-vending" }],
  };
}

async function pagesOf(iterable: AsyncIterable<RolePage>): Promise<RolePage[]> {
  const pages: RolePage[] = [];
  for await (const page of iterable) pages.push(page);
  return pages;
}

beforeEach(() => iamMock.reset());

describe("IamRoleStore.describeAllUnder", () => {
  it("pages through GetAccountAuthorizationDetails 1,000 roles at a time, describing the path's roles as describe does and naming the others", async () => {
    iamMock
      .on(ListRolesCommand)
      .resolves({ Roles: [listed("a"), listed("b"), listed("deep", "/spacelift/x/")] });
    iamMock
      .on(GetAccountAuthorizationDetailsCommand, { Filter: ["Role"], MaxItems: 1000 })
      .resolves({
        RoleDetailList: [detail("a"), detail("other", "/")],
        IsTruncated: true,
        Marker: "m1",
      });
    iamMock
      .on(GetAccountAuthorizationDetailsCommand, { Filter: ["Role"], MaxItems: 1000, Marker: "m1" })
      .resolves({
        RoleDetailList: [detail("b"), detail("deep", "/spacelift/x/")],
        IsTruncated: false,
      });

    const pages = await pagesOf(store.describeAllUnder(PATH));

    expect(pages.map(({ roles }) => roles.map(({ name }) => name))).toEqual([["a"], ["b"]]);
    expect(pages.map(({ namesElsewhere }) => namesElsewhere)).toEqual([["other"], ["deep"]]);
    expect(pages[0]?.roles[0]).toEqual({
      name: "a",
      arn: "arn:aws:iam::123456789012:role/spacelift/a",
      path: PATH,
      description: "role a",
      maxSessionDuration: 7200,
      trustPolicy: trust,
      permissionsBoundaryArn: "arn:aws:iam::123456789012:policy/boundary",
      managedPolicyArns: [
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
        "arn:aws:iam::aws:policy/ViewOnlyAccess",
      ],
      inlinePolicies: { revoked: inline },
      tags: { "managed-by": "spacelift-role-vending" },
    });
    expect(iamMock.commandCalls(ListRolesCommand)[0]?.args[0].input).toEqual({
      PathPrefix: PATH,
      MaxItems: 1000,
    });
    expect(iamMock.commandCalls(GetAccountAuthorizationDetailsCommand)).toHaveLength(2);
    expect(iamMock.commandCalls(GetRoleCommand)).toHaveLength(0);
  });

  it("takes the trust policy as plain JSON too (moto 5.2 does not URL-encode it there)", async () => {
    iamMock.on(ListRolesCommand).resolves({ Roles: [listed("a")] });
    iamMock.on(GetAccountAuthorizationDetailsCommand).resolves({
      RoleDetailList: [{ ...detail("a"), AssumeRolePolicyDocument: JSON.stringify(trust) }],
    });

    const [page] = await pagesOf(store.describeAllUnder(PATH));

    expect(page?.roles[0]?.trustPolicy).toEqual(trust);
  });

  it("names a role under the path that ListRoles did not list (created in between) as elsewhere: not described from half a read", async () => {
    iamMock.on(ListRolesCommand).resolves({ Roles: [] });
    iamMock.on(GetAccountAuthorizationDetailsCommand).resolves({ RoleDetailList: [detail("new")] });

    const pages = await pagesOf(store.describeAllUnder(PATH));

    expect(pages).toEqual([{ roles: [], namesElsewhere: ["new"] }]);
  });

  it("wraps a failed page in AwsCallError with its cause", async () => {
    iamMock.on(ListRolesCommand).resolves({ Roles: [listed("a")] });
    const failure = new ServiceFailureException({ message: "boom", $metadata: {} });
    iamMock.on(GetAccountAuthorizationDetailsCommand).rejects(failure);

    const read = pagesOf(store.describeAllUnder(PATH));

    await expect(read).rejects.toBeInstanceOf(AwsCallError);
    await expect(read).rejects.toMatchObject({ cause: failure });
  });
});
