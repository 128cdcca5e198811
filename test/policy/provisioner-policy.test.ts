/**
 * The provisioner's own rights, as deployed: its role's statements come from the template
 * `osls package` builds (intrinsics resolved for account 123456789012, us-east-1 and the
 * packaged stage parameters) and an IAM policy evaluator decides each call. The calls that must
 * succeed are the ones the core really makes for the roles and parameters it renders from the
 * provisioner's own deployed environment. The reconciler, which converges the same parameters,
 * is checked for the parameter calls too.
 */
import { runSimulation } from "@cloud-copilot/iam-simulate";
import { beforeAll, describe, expect, it } from "vitest";
import { loadVendingConfig, type VendingConfig } from "../../functions/core/config.ts";
import type { SpaceId, StackId } from "../../functions/core/identifiers.ts";
import { diffRole, type RoleChange } from "../../functions/core/role-diff.ts";
import { stackBindings } from "../../functions/core/role-spec.ts";
import {
  type CloudFormationTemplate,
  loadPackagedTemplate,
  PACKAGED_PARAMS,
  PACKAGED_REGION,
  resolveIntrinsics,
  rolePolicyDocuments,
  TEMPLATE_ACCOUNT_ID,
} from "../../testkit/policy/serverless-template.ts";

const ACCOUNT = TEMPLATE_ACCOUNT_ID;
const REGION = PACKAGED_REGION;
const BOUNDARY = PACKAGED_PARAMS.permissionsBoundaryArn;
const ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess";
const PACKAGING_TIMEOUT = 300_000;

let template: CloudFormationTemplate;
let config: VendingConfig;

beforeAll(async () => {
  template = await loadPackagedTemplate();
  const variables = resolveIntrinsics(
    template,
    template.Resources.ProvisionerLambdaFunction.Properties.Environment.Variables,
  ) as Record<string, string>;
  config = await loadVendingConfig(variables);
}, PACKAGING_TIMEOUT);

type Decision = "allow" | "deny";

interface Call {
  readonly action: string;
  readonly resource: string;
  readonly context?: Record<string, string | string[]>;
}

type ServiceRole = "ProvisionerRole" | "ReconcilerRole";

/** The decision on one call made with a function role's identity policies (the provisioner's). */
async function decide(call: Call, serviceRole: ServiceRole = "ProvisionerRole"): Promise<Decision> {
  const policies = rolePolicyDocuments(template, serviceRole);
  const result = await runSimulation(
    {
      request: {
        principal: `arn:aws:iam::${ACCOUNT}:role/spacelift-role-vending/${serviceRole}`,
        action: call.action,
        resource: { resource: call.resource, accountId: ACCOUNT },
        contextVariables: call.context ?? {},
      },
      identityPolicies: Object.entries(policies).map(([name, policy]) => ({ name, policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  if (result.resultType === "error") {
    throw new Error(`simulation refused its input: ${JSON.stringify(result.errors)}`);
  }
  return result.overallResult === "Allowed" ? "allow" : "deny";
}

async function decideAll(
  calls: Readonly<Record<string, Call>>,
  serviceRole: ServiceRole = "ProvisionerRole",
): Promise<Record<string, Decision>> {
  const decisions: Record<string, Decision> = {};
  for (const [name, call] of Object.entries(calls)) {
    decisions[name] = await decide(call, serviceRole);
  }
  return decisions;
}

const role = (path: string, name: string) => `arn:aws:iam::${ACCOUNT}:role${path}${name}`;
/** The request context IAM builds for a write on a role that carries our boundary. */
const bounded = { "iam:PermissionsBoundary": BOUNDARY };
const parameter = (name: string) => `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${name}`;

describe("the provisioner's own policy", () => {
  it("allows every call the core makes to create, tag, converge and delete a stack's role", async () => {
    const [binding] = stackBindings(config, {
      stackId: "payments-api" as StackId,
      spaceId: "production-01HND497T9JKR76MR3KA2CDJHP" as SpaceId,
      labels: [],
    });
    if (binding === undefined) throw new Error("no binding");
    const { role: spec } = binding;
    const arn = role(spec.path, spec.name);
    expect(spec.permissionsBoundaryArn).toBe(BOUNDARY);
    expect(spec.managedPolicyArns.length).toBeGreaterThan(0);
    const calls: Record<string, Call> = {
      CreateRole: {
        action: "iam:CreateRole",
        resource: arn,
        context: {
          "iam:PermissionsBoundary": BOUNDARY,
          "aws:RequestTag/spacelift:stack": "payments-api",
          "aws:TagKeys": Object.keys(spec.tags),
        },
      },
      PutRolePermissionsBoundary: {
        action: "iam:PutRolePermissionsBoundary",
        resource: arn,
        context: { "iam:PermissionsBoundary": BOUNDARY },
      },
      TagRole: { action: "iam:TagRole", resource: arn },
      UntagRole: { action: "iam:UntagRole", resource: arn },
      GetRole: { action: "iam:GetRole", resource: arn },
      // IAM sets iam:PermissionsBoundary to the boundary the role carries, which is ours.
      UpdateAssumeRolePolicy: {
        action: "iam:UpdateAssumeRolePolicy",
        resource: arn,
        context: bounded,
      },
      UpdateRole: { action: "iam:UpdateRole", resource: arn, context: bounded },
      PutRolePolicy: { action: "iam:PutRolePolicy", resource: arn, context: bounded },
      DeleteRolePolicy: { action: "iam:DeleteRolePolicy", resource: arn, context: bounded },
      DetachRolePolicy: { action: "iam:DetachRolePolicy", resource: arn, context: bounded },
      DeleteRole: { action: "iam:DeleteRole", resource: arn, context: bounded },
      PutParameter: { action: "ssm:PutParameter", resource: parameter(binding.parameterName) },
      GetParameter: { action: "ssm:GetParameter", resource: parameter(binding.parameterName) },
      ListTagsForResource: {
        action: "ssm:ListTagsForResource",
        resource: parameter(binding.parameterName),
      },
      AddTagsToResource: {
        action: "ssm:AddTagsToResource",
        resource: parameter(binding.parameterName),
      },
      RemoveTagsFromResource: {
        action: "ssm:RemoveTagsFromResource",
        resource: parameter(binding.parameterName),
      },
      DeleteParameter: {
        action: "ssm:DeleteParameter",
        resource: parameter(binding.parameterName),
      },
    };
    for (const policyArn of spec.managedPolicyArns) {
      calls[`AttachRolePolicy ${policyArn}`] = {
        action: "iam:AttachRolePolicy",
        resource: arn,
        context: { "iam:PolicyARN": policyArn, ...bounded },
      };
    }

    const decisions = await decideAll(calls);

    expect(decisions).toEqual(
      Object.fromEntries(Object.keys(calls).map((name) => [name, "allow"])),
    );
  });

  it("may repair, call by call in the order it makes them, a role someone took the boundary off", async () => {
    const [binding] = stackBindings(config, {
      stackId: "payments-api" as StackId,
      spaceId: "production-01HND497T9JKR76MR3KA2CDJHP" as SpaceId,
      labels: [],
    });
    if (binding === undefined) throw new Error("no binding");
    const { role: spec } = binding;
    const arn = role(spec.path, spec.name);
    // Tampered with: boundary removed, trust widened, an inline policy and a stray policy added.
    const changes = diffRole(
      {
        name: spec.name,
        arn,
        path: spec.path,
        description: "tampered",
        maxSessionDuration: spec.maxSessionDuration,
        trustPolicy: { Version: "2012-10-17", Statement: [] },
        permissionsBoundaryArn: undefined,
        managedPolicyArns: ["arn:aws:iam::aws:policy/AdministratorAccess"],
        inlinePolicies: { backdoor: { Version: "2012-10-17", Statement: [] } },
        tags: {},
      },
      spec,
    );
    const actionOf: Record<RoleChange["kind"], string> = {
      updateTrustPolicy: "iam:UpdateAssumeRolePolicy",
      updateSettings: "iam:UpdateRole",
      putPermissionsBoundary: "iam:PutRolePermissionsBoundary",
      deletePermissionsBoundary: "iam:DeleteRolePermissionsBoundary",
      tag: "iam:TagRole",
      untag: "iam:UntagRole",
      attachPolicy: "iam:AttachRolePolicy",
      putInlinePolicy: "iam:PutRolePolicy",
      detachPolicy: "iam:DetachRolePolicy",
      deleteInlinePolicy: "iam:DeleteRolePolicy",
    };
    // IAM's iam:PermissionsBoundary is the boundary the role carries at the time of each call
    // (for PutRolePermissionsBoundary, the one being set).
    let carried: string | undefined;
    const decisions: string[] = [];
    for (const change of changes) {
      const context: Record<string, string> = {};
      if (change.kind === "putPermissionsBoundary") context["iam:PermissionsBoundary"] = change.arn;
      else if (carried !== undefined) context["iam:PermissionsBoundary"] = carried;
      if (change.kind === "attachPolicy" || change.kind === "detachPolicy") {
        context["iam:PolicyARN"] = change.arn;
      }
      const decision = await decide({ action: actionOf[change.kind], resource: arn, context });
      decisions.push(`${change.kind} ${decision}`);
      if (change.kind === "putPermissionsBoundary") carried = change.arn;
    }

    expect(decisions[0]).toBe("putPermissionsBoundary allow");
    expect(decisions).toEqual(changes.map((change) => `${change.kind} allow`));
  });

  it("denies roles outside its path, roles without the boundary, other policies and other parameters", async () => {
    const vended = role(config.rolePath, `${config.roleNamePrefix}stack-payments-api`);
    const calls: Record<string, Call> = {
      "CreateRole without a boundary": { action: "iam:CreateRole", resource: vended },
      "CreateRole with another boundary": {
        action: "iam:CreateRole",
        resource: vended,
        context: { "iam:PermissionsBoundary": `arn:aws:iam::${ACCOUNT}:policy/wide-open` },
      },
      "PutRolePermissionsBoundary with another boundary": {
        action: "iam:PutRolePermissionsBoundary",
        resource: vended,
        context: { "iam:PermissionsBoundary": ADMIN },
      },
      DeleteRolePermissionsBoundary: {
        action: "iam:DeleteRolePermissionsBoundary",
        resource: vended,
      },
      "CreateRole at the root path": {
        action: "iam:CreateRole",
        resource: role("/", `${config.roleNamePrefix}stack-payments-api`),
        context: { "iam:PermissionsBoundary": BOUNDARY },
      },
      "CreateRole under another path": {
        action: "iam:CreateRole",
        resource: role("/admin/", `${config.roleNamePrefix}stack-payments-api`),
        context: { "iam:PermissionsBoundary": BOUNDARY },
      },
      "CreateRole on the path without the name prefix": {
        action: "iam:CreateRole",
        resource: role(config.rolePath, "break-glass"),
        context: { "iam:PermissionsBoundary": BOUNDARY },
      },
      "PutRolePolicy on the functions' own role": {
        action: "iam:PutRolePolicy",
        resource: role("/spacelift-role-vending/", "provisioner"),
      },
      "AttachRolePolicy AdministratorAccess": {
        action: "iam:AttachRolePolicy",
        resource: vended,
        context: { "iam:PolicyARN": ADMIN },
      },
      "AttachRolePolicy to a role outside the path": {
        action: "iam:AttachRolePolicy",
        resource: role("/", "admin"),
        context: { "iam:PolicyARN": "arn:aws:iam::aws:policy/ReadOnlyAccess" },
      },
      "UpdateAssumeRolePolicy of a role outside the path": {
        action: "iam:UpdateAssumeRolePolicy",
        resource: role("/", "admin"),
      },
      "PutParameter outside the prefix": {
        action: "ssm:PutParameter",
        resource: parameter("/prod/database/password"),
      },
      "PutParameter under a prefix that only starts alike": {
        action: "ssm:PutParameter",
        resource: parameter(`${config.parameterPrefix}-evil/acme/stacks/x/role-arn`),
      },
      "GetParameter outside the prefix": {
        action: "ssm:GetParameter",
        resource: parameter("/prod/database/password"),
      },
      "AddTagsToResource outside the prefix": {
        action: "ssm:AddTagsToResource",
        resource: parameter("/prod/database/password"),
      },
      "RemoveTagsFromResource outside the prefix": {
        action: "ssm:RemoveTagsFromResource",
        resource: parameter("/prod/database/password"),
      },
      "RemoveTagsFromResource under a prefix that only starts alike": {
        action: "ssm:RemoveTagsFromResource",
        resource: parameter(`${config.parameterPrefix}-evil/acme/stacks/x/role-arn`),
      },
      "PassRole of a vended role": { action: "iam:PassRole", resource: vended },
      CreateUser: { action: "iam:CreateUser", resource: `arn:aws:iam::${ACCOUNT}:user/intruder` },
      CreatePolicy: {
        action: "iam:CreatePolicy",
        resource: `arn:aws:iam::${ACCOUNT}:policy/anything`,
      },
      CreateOpenIDConnectProvider: {
        action: "iam:CreateOpenIDConnectProvider",
        resource: `arn:aws:iam::${ACCOUNT}:oidc-provider/evil.example.com`,
      },
    };

    const decisions = await decideAll(calls);

    expect(decisions).toEqual(Object.fromEntries(Object.keys(calls).map((name) => [name, "deny"])));
  });
});

describe.each(["ProvisionerRole", "ReconcilerRole"] as const)(
  "%s cannot make itself an administrator",
  (serviceRole) => {
    const principal = () => `arn:aws:iam::${ACCOUNT}:role/spacelift-role-vending/${serviceRole}`;

    it("cannot write a role under its path that lacks the boundary (someone else's, or one it could make)", async () => {
      const vended = role(config.rolePath, `${config.roleNamePrefix}stack-payments-api`);
      const otherBoundary = {
        "iam:PermissionsBoundary": `arn:aws:iam::${ACCOUNT}:policy/wide-open`,
      };
      const calls: Record<string, Call> = {};
      for (const action of [
        "iam:PutRolePolicy",
        "iam:UpdateAssumeRolePolicy",
        "iam:DeleteRolePolicy",
        "iam:DetachRolePolicy",
        "iam:UpdateRole",
        "iam:DeleteRole",
      ]) {
        calls[`${action} on a role without a boundary`] = { action, resource: vended };
        calls[`${action} on a role with another boundary`] = {
          action,
          resource: vended,
          context: otherBoundary,
        };
      }
      calls["AttachRolePolicy of an allowed policy to a role without a boundary"] = {
        action: "iam:AttachRolePolicy",
        resource: vended,
        context: { "iam:PolicyARN": "arn:aws:iam::aws:policy/ReadOnlyAccess" },
      };

      const decisions = await decideAll(calls, serviceRole);

      expect(decisions).toEqual(
        Object.fromEntries(Object.keys(calls).map((name) => [name, "deny"])),
      );
    });

    it("cannot assume a vended role even when that role's trust policy names it", async () => {
      const vended = role(config.rolePath, `${config.roleNamePrefix}stack-payments-api`);
      // The chain the review found: create a role (with the boundary), give it `*:*` inline,
      // make it trust the function's own role by ARN, assume it. In one account a trust policy
      // naming a role ARN allows AssumeRole without any identity-policy allow, so only an
      // explicit Deny in the function's own policy stops the last step.
      const trustingTheFunction = {
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Principal: { AWS: principal() },
            Action: ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
          },
        ],
      };
      const decisions: Record<string, Decision> = {};
      for (const action of ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]) {
        const result = await runSimulation(
          {
            request: {
              principal: principal(),
              action,
              resource: { resource: vended, accountId: ACCOUNT },
              contextVariables: {},
            },
            identityPolicies: Object.entries(rolePolicyDocuments(template, serviceRole)).map(
              ([name, policy]) => ({ name, policy }),
            ),
            serviceControlPolicies: [],
            resourceControlPolicies: [],
            resourcePolicy: trustingTheFunction,
          },
          {},
        );
        if (result.resultType === "error") throw new Error(JSON.stringify(result.errors));
        decisions[action] = result.overallResult === "Allowed" ? "allow" : "deny";
      }

      expect(decisions).toEqual({
        "sts:AssumeRole": "deny",
        "sts:TagSession": "deny",
        "sts:SetSourceIdentity": "deny",
      });
    });
  },
);

describe("the functions' policy when parameterPrefix contains the product's secrets", () => {
  it(
    "still refuses to overwrite or delete the webhook secrets and the API key",
    async () => {
      const overlapping = await loadPackagedTemplate({
        ...PACKAGED_PARAMS,
        parameterPrefix: "/spacelift-role-vending",
      });
      const calls: Record<string, Call> = {};
      for (const name of [
        "/spacelift-role-vending/webhook-secret",
        "/spacelift-role-vending/webhook-secret-previous",
        "/spacelift-role-vending/spacelift-api-key",
      ]) {
        for (const action of ["ssm:PutParameter", "ssm:DeleteParameter"]) {
          calls[`${action} ${name}`] = { action, resource: parameter(name) };
        }
      }
      const decisions: Record<string, Decision> = {};
      for (const serviceRole of ["ProvisionerRole", "ReconcilerRole"] as const) {
        for (const [name, call] of Object.entries(calls)) {
          const result = await runSimulation(
            {
              request: {
                principal: `arn:aws:iam::${ACCOUNT}:role/spacelift-role-vending/${serviceRole}`,
                action: call.action,
                resource: { resource: call.resource, accountId: ACCOUNT },
                contextVariables: {},
              },
              identityPolicies: Object.entries(rolePolicyDocuments(overlapping, serviceRole)).map(
                ([policyName, policy]) => ({ name: policyName, policy }),
              ),
              serviceControlPolicies: [],
              resourceControlPolicies: [],
            },
            {},
          );
          if (result.resultType === "error") throw new Error(JSON.stringify(result.errors));
          decisions[`${serviceRole} ${name}`] =
            result.overallResult === "Allowed" ? "allow" : "deny";
        }
      }

      expect(Object.values(decisions).length).toBe(12);
      expect(decisions).toEqual(
        Object.fromEntries(Object.keys(decisions).map((name) => [name, "deny"])),
      );
    },
    PACKAGING_TIMEOUT,
  );
});

describe("the reconciler's own policy", () => {
  it("may converge a parameter's tags under the prefix, as the provisioner may, and nowhere else", async () => {
    const published = parameter(`${config.parameterPrefix}/acme/stacks/payments-api/role-arn`);
    const elsewhere = parameter("/prod/database/password");
    const calls: Record<string, Call> = {};
    for (const action of [
      "ssm:PutParameter",
      "ssm:ListTagsForResource",
      "ssm:AddTagsToResource",
      "ssm:RemoveTagsFromResource",
    ]) {
      calls[`${action} under the prefix`] = { action, resource: published };
      calls[`${action} outside the prefix`] = { action, resource: elsewhere };
    }

    const decisions = await decideAll(calls, "ReconcilerRole");

    expect(decisions).toEqual(
      Object.fromEntries(
        Object.keys(calls).map((name) => [
          name,
          name.endsWith("under the prefix") ? "allow" : "deny",
        ]),
      ),
    );
  });
});

describe("the reconciler's bulk inventory", () => {
  it("may list roles and read the account's authorization details, which the provisioner may not", async () => {
    // Neither action supports resource-level permissions: IAM evaluates them against "*".
    const calls: Record<string, Call> = {
      ListRoles: { action: "iam:ListRoles", resource: "*" },
      GetAccountAuthorizationDetails: {
        action: "iam:GetAccountAuthorizationDetails",
        resource: "*",
      },
    };

    expect(await decideAll(calls, "ReconcilerRole")).toEqual({
      ListRoles: "allow",
      GetAccountAuthorizationDetails: "allow",
    });
    expect(await decideAll(calls, "ProvisionerRole")).toEqual({
      ListRoles: "deny",
      GetAccountAuthorizationDetails: "deny",
    });
  });
});

describe("the space role counts (MAX_ROLES_PER_SPACE) in the ledger table", () => {
  it("may be read and updated by the provisioner and the reconciler, in the ledger table only", async () => {
    const ledger = String(resolveIntrinsics(template, { "Fn::GetAtt": ["LedgerTable", "Arn"] }));
    const elsewhere = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/another-table`;
    const calls: Record<string, Call> = {};
    for (const action of ["dynamodb:GetItem", "dynamodb:UpdateItem"]) {
      calls[`${action} ledger`] = { action, resource: ledger };
      calls[`${action} elsewhere`] = { action, resource: elsewhere };
    }
    const expected = Object.fromEntries(
      Object.keys(calls).map((name) => [name, name.endsWith(" ledger") ? "allow" : "deny"]),
    );

    expect(ledger).toMatch(/^arn:aws:dynamodb:/);
    expect(await decideAll(calls, "ProvisionerRole")).toEqual(expected);
    expect(await decideAll(calls, "ReconcilerRole")).toEqual(expected);
  });
});

describe("revoking an orphan (the reconciler's calls)", () => {
  it("may replace a vended role's trust, put and delete the sessions policy, and tag it", async () => {
    const [binding] = stackBindings(config, {
      stackId: "payments-api" as StackId,
      spaceId: "production-01HND497T9JKR76MR3KA2CDJHP" as SpaceId,
      labels: [],
    });
    if (binding === undefined) throw new Error("no binding");
    const arn = role(binding.role.path, binding.role.name);
    // The role carries the boundary: IAM puts it in the request context of calls on the role.
    const context = { "iam:PermissionsBoundary": BOUNDARY };
    const calls: Record<string, Call> = {
      UpdateAssumeRolePolicy: { action: "iam:UpdateAssumeRolePolicy", resource: arn, context },
      PutRolePolicy: { action: "iam:PutRolePolicy", resource: arn, context },
      DeleteRolePolicy: { action: "iam:DeleteRolePolicy", resource: arn, context },
      TagRole: {
        action: "iam:TagRole",
        resource: arn,
        context: { ...context, "aws:TagKeys": ["spacelift:orphaned-at"] },
      },
    };

    expect(await decideAll(calls, "ReconcilerRole")).toEqual(
      Object.fromEntries(Object.keys(calls).map((name) => [name, "allow"])),
    );
  });
});
