// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the references are HCL interpolations ("${data.x}") as hcl2json returns them, not JavaScript templates.
/**
 * The vending role of a target account (infra/modules/target-account), as Terraform renders its
 * trust and permissions (testkit/policy/terraform-module.ts), and the service's side of the
 * assume (the provisioner's and reconciler's policies from the packaged template with
 * vendingRoleArns set), decided by an IAM policy evaluator.
 *
 * Who may assume it: only the service's two roles, with the external ID (or from the
 * organization). Not a vended stack role of the service's account, not an administrator there.
 * What it may do: today's least-privilege set in its own account: roles under the path with
 * the boundary, attachments from the allow-list, parameters under the prefix.
 */
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  awsManagedPolicy,
  type Call,
  decideCalls,
  expectedFor,
  type PolicyDocument,
  type Principal,
} from "../../testkit/policy/principal-evaluate.ts";
import {
  type CloudFormationTemplate,
  loadPackagedTemplate,
  PACKAGED_PARAMS,
  rolePolicyDocuments,
  SERVICE_DIR,
  TARGET_ACCOUNT_PARAMS,
  TEMPLATE_ACCOUNT_ID,
  VENDING_ROLE_ARNS,
} from "../../testkit/policy/serverless-template.ts";
import { renderBoundaryPolicy } from "../../testkit/policy/terraform-boundary.ts";
import { renderModuleCall } from "../../testkit/policy/terraform-module.ts";

const SERVICE_ACCOUNT = TEMPLATE_ACCOUNT_ID;
const TARGET = "222222222222";
const REGION = "us-east-1";
const EXTERNAL_ID = "spacelift-role-vending-7f3a9c";
const ORGANIZATION = "o-a1b2c3d4e5";
const [VENDING_ROLE = "", OTHER_VENDING_ROLE = ""] = VENDING_ROLE_ARNS;
const TARGET_BOUNDARY = `arn:aws:iam::${TARGET}:policy/spacelift-role-vending/spacelift-role-vending-boundary`;
const READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess";
const MODULE_DIR = join(SERVICE_DIR, "infra", "modules", "target-account");
const TIMEOUT = 300_000;

/** The service's function roles as serverless.yml names them (custom.roleArns, stage "test"). */
const serviceRole = (fn: "provisioner" | "reconciler") =>
  `arn:aws:iam::${SERVICE_ACCOUNT}:role/spacelift-role-vending/spacelift-role-vending-test-${fn}`;

interface VendingRole {
  readonly trust: PolicyDocument;
  readonly permissions: PolicyDocument;
}

/** The module's documents for account TARGET, with its defaults and these inputs. */
async function renderVendingRole(
  overrides: Readonly<Record<string, unknown>>,
): Promise<VendingRole> {
  const { outputs } = await renderModuleCall({
    moduleDir: MODULE_DIR,
    call: "vending_role_document",
    overrides: {
      spacelift_hostname: PACKAGED_PARAMS.spaceliftHostname,
      service_role_arns: [serviceRole("provisioner"), serviceRole("reconciler")],
      allowed_policy_arns: [READ_ONLY],
      ...overrides,
    },
    references: {
      "${data.aws_partition.current.partition}": "aws",
      "${data.aws_caller_identity.current.account_id}": TARGET,
      "${data.aws_region.current.id}": REGION,
      "${module.oidc_provider.permissions_boundary_arn}": TARGET_BOUNDARY,
    },
  });
  return {
    trust: JSON.parse(String(outputs.trust_json)),
    permissions: JSON.parse(String(outputs.policy_json)),
  };
}

let withExternalId: VendingRole;
let withOrganization: VendingRole;
let withVendingRoles: CloudFormationTemplate;
let withoutVendingRoles: CloudFormationTemplate;
let boundary: PolicyDocument;

beforeAll(async () => {
  [withExternalId, withOrganization, withVendingRoles, withoutVendingRoles, boundary] =
    await Promise.all([
      renderVendingRole({ external_id: EXTERNAL_ID }),
      renderVendingRole({ organization_id: ORGANIZATION }),
      loadPackagedTemplate(TARGET_ACCOUNT_PARAMS),
      loadPackagedTemplate(PACKAGED_PARAMS),
      renderBoundaryPolicy().then((rendered) => rendered.document),
    ]);
}, TIMEOUT);

function functionRole(
  fn: "provisioner" | "reconciler",
  template: CloudFormationTemplate,
  context: Readonly<Record<string, string>> = {},
): Principal {
  const logicalId = fn === "provisioner" ? "ProvisionerRole" : "ReconcilerRole";
  return {
    arn: serviceRole(fn),
    identityPolicies: rolePolicyDocuments(template, logicalId),
    context,
  };
}

/** A stack's role in the service's account, with AdministratorAccess; with or without the boundary. */
function vendedStackRole(withBoundary: boolean): Principal {
  return {
    arn: `arn:aws:iam::${SERVICE_ACCOUNT}:role/spacelift/spacelift-stack-payments-api`,
    identityPolicies: { AdministratorAccess: awsManagedPolicy("AdministratorAccess") },
    ...(withBoundary && { boundary }),
    context: { "aws:PrincipalTag/spacelift:stack": "payments-api" },
  };
}

const accountAdmin: Principal = {
  arn: `arn:aws:iam::${SERVICE_ACCOUNT}:role/admin`,
  identityPolicies: { AdministratorAccess: awsManagedPolicy("AdministratorAccess") },
};

const assumeVendingRole = (
  role: VendingRole,
  context: Readonly<Record<string, string>> = {},
): Call => ({
  action: "sts:AssumeRole",
  resource: VENDING_ROLE,
  resourceAccount: TARGET,
  resourcePolicy: role.trust,
  context,
});

describe("who may assume the vending role", () => {
  it("the provisioner and the reconciler, with the external ID", async () => {
    const calls = { assume: assumeVendingRole(withExternalId, { "sts:ExternalId": EXTERNAL_ID }) };

    const decisions = {
      provisioner: await decideCalls(functionRole("provisioner", withVendingRoles), calls),
      reconciler: await decideCalls(functionRole("reconciler", withVendingRoles), calls),
    };

    expect(decisions).toEqual({
      provisioner: { assume: "allow" },
      reconciler: { assume: "allow" },
    });
  });

  it("not the provisioner without the external ID or with another one", async () => {
    const calls = {
      "no external ID": assumeVendingRole(withExternalId),
      "another external ID": assumeVendingRole(withExternalId, { "sts:ExternalId": "guessed" }),
    };

    const decisions = await decideCalls(functionRole("provisioner", withVendingRoles), calls);

    expect(decisions).toEqual(expectedFor(calls, "deny"));
  });

  it("with organization_id: the provisioner from the organization, not from another", async () => {
    const calls = { assume: assumeVendingRole(withOrganization) };
    const inOrganization = { "aws:PrincipalOrgID": ORGANIZATION };
    const elsewhere = { "aws:PrincipalOrgID": "o-zzzzzzzzzz" };

    const decisions = {
      inOrganization: await decideCalls(
        functionRole("provisioner", withVendingRoles, inOrganization),
        calls,
      ),
      elsewhere: await decideCalls(functionRole("provisioner", withVendingRoles, elsewhere), calls),
    };

    expect(decisions).toEqual({
      inOrganization: { assume: "allow" },
      elsewhere: { assume: "deny" },
    });
  });

  it("not the functions when the service lists no vending role (vendingRoleArns empty)", async () => {
    const calls = { assume: assumeVendingRole(withExternalId, { "sts:ExternalId": EXTERNAL_ID }) };

    const decisions = {
      provisioner: await decideCalls(functionRole("provisioner", withoutVendingRoles), calls),
      reconciler: await decideCalls(functionRole("reconciler", withoutVendingRoles), calls),
    };

    expect(decisions).toEqual({ provisioner: { assume: "deny" }, reconciler: { assume: "deny" } });
  });

  it("not a vended stack role or an administrator of the service's account, even with the external ID", async () => {
    const calls = { assume: assumeVendingRole(withExternalId, { "sts:ExternalId": EXTERNAL_ID }) };

    const decisions = {
      "stack role under the boundary": await decideCalls(vendedStackRole(true), calls),
      // The trust alone refuses it: it names the two function roles, not the account.
      "stack role without a boundary": await decideCalls(vendedStackRole(false), calls),
      "account administrator": await decideCalls(accountAdmin, calls),
    };

    expect(decisions).toEqual({
      "stack role under the boundary": { assume: "deny" },
      "stack role without a boundary": { assume: "deny" },
      "account administrator": { assume: "deny" },
    });
  });

  it("the boundary alone also keeps a stack role from a vending role that trusted its whole account", async () => {
    const trustingTheAccount = {
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Principal: { AWS: `arn:aws:iam::${SERVICE_ACCOUNT}:root` },
          Action: "sts:AssumeRole",
        },
      ],
    };
    const calls: Record<string, Call> = {
      assume: {
        action: "sts:AssumeRole",
        resource: VENDING_ROLE,
        resourceAccount: TARGET,
        resourcePolicy: trustingTheAccount,
      },
    };

    const decisions = {
      "under the boundary": await decideCalls(vendedStackRole(true), calls),
      "without the boundary": await decideCalls(vendedStackRole(false), calls),
    };

    expect(decisions).toEqual({
      "under the boundary": { assume: "deny" },
      "without the boundary": { assume: "allow" },
    });
  });
});

describe("what the functions may assume", () => {
  it.each(["provisioner", "reconciler"] as const)(
    "%s: only the listed vending roles, and no other role of any account",
    async (fn) => {
      const trustsEveryone = {
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Principal: { AWS: serviceRole(fn) },
            Action: ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
          },
        ],
      };
      const call = (action: string, resource: string): Call => ({
        action,
        resource,
        resourceAccount: resource.split(":")[4] ?? "",
        resourcePolicy: trustsEveryone,
      });
      const allowed = {
        "the first vending role": call("sts:AssumeRole", VENDING_ROLE),
        "the second vending role": call("sts:AssumeRole", OTHER_VENDING_ROLE),
      };
      const denied = {
        "another role in a target account": call(
          "sts:AssumeRole",
          `arn:aws:iam::${TARGET}:role/OrganizationAccountAccessRole`,
        ),
        "a vended role in the target account": call(
          "sts:AssumeRole",
          `arn:aws:iam::${TARGET}:role/spacelift/spacelift-stack-payments-api`,
        ),
        "a vended role in its own account": call(
          "sts:AssumeRole",
          `arn:aws:iam::${SERVICE_ACCOUNT}:role/spacelift/spacelift-stack-payments-api`,
        ),
        "a vending-role name on another path": call(
          "sts:AssumeRole",
          `arn:aws:iam::${TARGET}:role/spacelift-role-vending-x/spacelift-role-vending`,
        ),
        "session tags on the vending role": call("sts:TagSession", VENDING_ROLE),
        "a source identity on the vending role": call("sts:SetSourceIdentity", VENDING_ROLE),
      };

      const decisions = await decideCalls(functionRole(fn, withVendingRoles), {
        ...allowed,
        ...denied,
      });

      expect(decisions).toEqual({
        ...expectedFor(allowed, "allow"),
        ...expectedFor(denied, "deny"),
      });
    },
  );
});

describe("what the vending role may do in its account", () => {
  const vendingRole = (): Principal => ({
    arn: VENDING_ROLE,
    identityPolicies: { vending: withExternalId.permissions },
  });
  const role = (path: string, name: string) => `arn:aws:iam::${TARGET}:role${path}${name}`;
  const parameter = (name: string) => `arn:aws:ssm:${REGION}:${TARGET}:parameter${name}`;
  const stackRole = role("/spacelift/", "spacelift-stack-payments-api");
  const bounded = { "iam:PermissionsBoundary": TARGET_BOUNDARY };
  const roleArnParameter = parameter("/spacelift/acme/stacks/payments-api/role-arn");

  it("makes every call the provisioner makes for a stack's role, with the boundary", async () => {
    const calls: Record<string, Call> = {
      CreateRole: { action: "iam:CreateRole", resource: stackRole, context: bounded },
      PutRolePermissionsBoundary: {
        action: "iam:PutRolePermissionsBoundary",
        resource: stackRole,
        context: bounded,
      },
      TagRole: { action: "iam:TagRole", resource: stackRole },
      UntagRole: { action: "iam:UntagRole", resource: stackRole },
      GetRole: { action: "iam:GetRole", resource: stackRole },
      UpdateAssumeRolePolicy: {
        action: "iam:UpdateAssumeRolePolicy",
        resource: stackRole,
        context: bounded,
      },
      UpdateRole: { action: "iam:UpdateRole", resource: stackRole, context: bounded },
      PutRolePolicy: { action: "iam:PutRolePolicy", resource: stackRole, context: bounded },
      DeleteRolePolicy: { action: "iam:DeleteRolePolicy", resource: stackRole, context: bounded },
      "AttachRolePolicy of an allowed policy": {
        action: "iam:AttachRolePolicy",
        resource: stackRole,
        context: { "iam:PolicyARN": READ_ONLY, ...bounded },
      },
      DetachRolePolicy: { action: "iam:DetachRolePolicy", resource: stackRole, context: bounded },
      DeleteRole: { action: "iam:DeleteRole", resource: stackRole, context: bounded },
      ListRoles: { action: "iam:ListRoles", resource: "*" },
      GetAccountSummary: { action: "iam:GetAccountSummary", resource: "*" },
      PutParameter: { action: "ssm:PutParameter", resource: roleArnParameter },
      GetParameter: { action: "ssm:GetParameter", resource: roleArnParameter },
      AddTagsToResource: { action: "ssm:AddTagsToResource", resource: roleArnParameter },
      DeleteParameter: { action: "ssm:DeleteParameter", resource: roleArnParameter },
    };

    const decisions = await decideCalls(vendingRole(), calls);

    expect(decisions).toEqual(expectedFor(calls, "allow"));
  });

  it("cannot create a role without the boundary, attach a policy off the allow-list, or touch roles off the path", async () => {
    const calls: Record<string, Call> = {
      "CreateRole without a boundary": { action: "iam:CreateRole", resource: stackRole },
      "CreateRole with another boundary": {
        action: "iam:CreateRole",
        resource: stackRole,
        context: { "iam:PermissionsBoundary": `arn:aws:iam::${TARGET}:policy/wide-open` },
      },
      "PutRolePermissionsBoundary with another boundary": {
        action: "iam:PutRolePermissionsBoundary",
        resource: stackRole,
        context: { "iam:PermissionsBoundary": ADMIN },
      },
      DeleteRolePermissionsBoundary: {
        action: "iam:DeleteRolePermissionsBoundary",
        resource: stackRole,
        context: bounded,
      },
      "PutRolePolicy on a role without the boundary": {
        action: "iam:PutRolePolicy",
        resource: stackRole,
      },
      "AttachRolePolicy AdministratorAccess": {
        action: "iam:AttachRolePolicy",
        resource: stackRole,
        context: { "iam:PolicyARN": ADMIN, ...bounded },
      },
      "AttachRolePolicy to a role without the boundary": {
        action: "iam:AttachRolePolicy",
        resource: stackRole,
        context: { "iam:PolicyARN": READ_ONLY },
      },
      "CreateRole at the root path": {
        action: "iam:CreateRole",
        resource: role("/", "spacelift-stack-payments-api"),
        context: bounded,
      },
      "CreateRole under another path": {
        action: "iam:CreateRole",
        resource: role("/admin/", "spacelift-stack-payments-api"),
        context: bounded,
      },
      "CreateRole on the path without the name prefix": {
        action: "iam:CreateRole",
        resource: role("/spacelift/", "break-glass"),
        context: bounded,
      },
      "UpdateAssumeRolePolicy of an account admin role": {
        action: "iam:UpdateAssumeRolePolicy",
        resource: role("/", "OrganizationAccountAccessRole"),
        context: bounded,
      },
      "PutRolePolicy on the vending role itself": {
        action: "iam:PutRolePolicy",
        resource: VENDING_ROLE,
        context: bounded,
      },
      "PassRole of a vended role": { action: "iam:PassRole", resource: stackRole },
      "AssumeRole of a vended role": {
        action: "sts:AssumeRole",
        resource: stackRole,
        resourcePolicy: {
          Version: "2012-10-17",
          Statement: [
            {
              Effect: "Allow",
              Principal: { AWS: VENDING_ROLE },
              Action: "sts:AssumeRole",
            },
          ],
        },
      },
      CreateOpenIDConnectProvider: {
        action: "iam:CreateOpenIDConnectProvider",
        resource: `arn:aws:iam::${TARGET}:oidc-provider/evil.example.com`,
      },
      "PutParameter outside the prefix": {
        action: "ssm:PutParameter",
        resource: parameter("/prod/database/password"),
      },
      "PutParameter under a prefix that only starts alike": {
        action: "ssm:PutParameter",
        resource: parameter("/spacelift-evil/acme/stacks/x/role-arn"),
      },
    };

    const decisions = await decideCalls(vendingRole(), calls);

    expect(decisions).toEqual(expectedFor(calls, "deny"));
  });
});

describe("the vending role against the provisioner's own policy", () => {
  /** The same calls, made in `account` on its vended roles, carrying `boundaryArn`. */
  function callsIn(account: string, boundaryArn: string): Record<string, Call> {
    const role = (path: string, name: string) => `arn:aws:iam::${account}:role${path}${name}`;
    const parameter = (name: string) => `arn:aws:ssm:${REGION}:${account}:parameter${name}`;
    const stackRole = role("/spacelift/", "spacelift-stack-payments-api");
    const bounded = { "iam:PermissionsBoundary": boundaryArn };
    const otherBoundary = { "iam:PermissionsBoundary": `arn:aws:iam::${account}:policy/wide-open` };
    const calls: Record<string, Call> = {};
    for (const action of [
      "iam:CreateRole",
      "iam:PutRolePermissionsBoundary",
      "iam:UpdateAssumeRolePolicy",
      "iam:UpdateRole",
      "iam:PutRolePolicy",
      "iam:DeleteRolePolicy",
      "iam:DetachRolePolicy",
      "iam:DeleteRole",
      "iam:DeleteRolePermissionsBoundary",
      "iam:TagRole",
      "iam:UntagRole",
    ]) {
      calls[`${action} with the boundary`] = { action, resource: stackRole, context: bounded };
      calls[`${action} with another boundary`] = {
        action,
        resource: stackRole,
        context: otherBoundary,
      };
      calls[`${action} without a boundary`] = { action, resource: stackRole };
      calls[`${action} off the path`] = {
        action,
        resource: role("/admin/", "spacelift-stack-payments-api"),
        context: bounded,
      };
      calls[`${action} without the name prefix`] = {
        action,
        resource: role("/spacelift/", "break-glass"),
        context: bounded,
      };
    }
    for (const policy of [READ_ONLY, ADMIN]) {
      calls[`AttachRolePolicy ${policy}`] = {
        action: "iam:AttachRolePolicy",
        resource: stackRole,
        context: { "iam:PolicyARN": policy, ...bounded },
      };
    }
    for (const action of ["iam:GetRole", "iam:ListRolePolicies", "iam:GetRolePolicy"]) {
      calls[`${action} on the path`] = { action, resource: role("/spacelift/", "someone-else") };
      calls[`${action} off the path`] = { action, resource: role("/admin/", "someone-else") };
    }
    for (const action of [
      "ssm:PutParameter",
      "ssm:GetParameter",
      "ssm:DeleteParameter",
      "ssm:AddTagsToResource",
      "ssm:RemoveTagsFromResource",
      "ssm:ListTagsForResource",
    ]) {
      calls[`${action} under the prefix`] = {
        action,
        resource: parameter("/spacelift/acme/stacks/payments-api/role-arn"),
      };
      calls[`${action} outside the prefix`] = {
        action,
        resource: parameter("/prod/database/password"),
      };
    }
    calls.PassRole = { action: "iam:PassRole", resource: stackRole };
    calls.CreateUser = { action: "iam:CreateUser", resource: `arn:aws:iam::${account}:user/x` };
    calls.CreatePolicyVersion = {
      action: "iam:CreatePolicyVersion",
      resource: boundaryArn,
    };
    return calls;
  }

  it("decides every call on vended roles and parameters as the provisioner's policy does in its own account", async () => {
    const provisioner = await decideCalls(
      functionRole("provisioner", withVendingRoles),
      callsIn(SERVICE_ACCOUNT, PACKAGED_PARAMS.permissionsBoundaryArn),
    );
    const vending = await decideCalls(
      { arn: VENDING_ROLE, identityPolicies: { vending: withExternalId.permissions } },
      callsIn(TARGET, TARGET_BOUNDARY),
    );

    expect(vending).toEqual(provisioner);
    expect(Object.values(vending)).toContain("allow");
    expect(Object.values(vending)).toContain("deny");
  });
});
