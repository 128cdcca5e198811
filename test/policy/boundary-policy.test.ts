/**
 * What a vended role can do under the permissions boundary of infra/modules/oidc-provider, as
 * Terraform renders it with the module's defaults (testkit/policy/terraform-boundary.ts), decided
 * by an IAM policy evaluator. The attacker is a stack whose role got AdministratorAccess (or
 * the README's ReadOnlyAccess): it must not escape the boundary, reach another team's roles,
 * or touch the product (its functions, queue, table, secrets, key and published ARNs).
 */
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
  BOUNDARY_ACCOUNT_ID,
  renderBoundaryPolicy,
} from "../../testkit/policy/terraform-boundary.ts";

const ACCOUNT = BOUNDARY_ACCOUNT_ID;
const REGION = "us-east-1";
const STAGE = "prod";
const STACK = "payments-api";
const SPACE = "production-01HND497T9JKR76MR3KA2CDJHP";
const TERRAFORM_TIMEOUT = 120_000;

let boundary: PolicyDocument;
let boundaryArn: string;

beforeAll(async () => {
  ({ document: boundary, arn: boundaryArn } = await renderBoundaryPolicy());
}, TERRAFORM_TIMEOUT);

const role = (path: string, name: string) => `arn:aws:iam::${ACCOUNT}:role${path}${name}`;
const parameter = (name: string) => `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${name}`;
const product = (service: string, resource: string) =>
  `arn:aws:${service}:${REGION}:${ACCOUNT}:${resource}`;
const bounded = () => ({ "iam:PermissionsBoundary": boundaryArn });
/** A trust policy that lets the account's IAM policies decide (what most admin roles have). */
const trustsTheAccount = {
  Version: "2012-10-17",
  Statement: [
    {
      Effect: "Allow",
      Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
      Action: ["sts:AssumeRole", "sts:TagSession"],
    },
  ],
};
const assume = (roleArn: string): Call => ({
  action: "sts:AssumeRole",
  resource: roleArn,
  resourcePolicy: trustsTheAccount,
});

const OWN_DELEGATED = `/spacelift-workloads/stack/${STACK}/`;
const OTHER_TEAMS_DELEGATED = "/spacelift-workloads/stack/billing-api/";
const PROVISIONER = `spacelift-role-vending-${STAGE}-provisioner`;
const QUEUE = product("sqs", `spacelift-role-vending-${STAGE}-events.fifo`);
const TABLE = product("dynamodb", `table/spacelift-role-vending-${STAGE}-ledger`);
const SECRETS_KEY = product("kms", "key/1234abcd-12ab-34cd-56ef-1234567890ab");
const SECRETS_ALIAS = `alias/spacelift-role-vending-${STAGE}-secrets`;
const WEBHOOK_SECRET = parameter("/spacelift-role-vending/webhook-secret");
const API_KEY = parameter("/spacelift-role-vending/spacelift-api-key");

/** The stack's role, as the provisioner creates it: its tags, this boundary. */
function vendedRole(policy: "AdministratorAccess" | "ReadOnlyAccess"): Principal {
  return {
    arn: role("/spacelift/", `spacelift-stack-${STACK}`),
    identityPolicies: { [policy]: awsManagedPolicy(policy) },
    boundary,
    context: {
      "aws:PrincipalTag/spacelift:stack": STACK,
      "aws:PrincipalTag/spacelift:space": SPACE,
      "aws:PrincipalTag/managed-by": "spacelift-role-vending",
    },
  };
}

/** What every vended role, whatever its policies, must be refused on the product. */
function productCalls(): Record<string, Call> {
  return {
    "GetParameter of the webhook secret": { action: "ssm:GetParameter", resource: WEBHOOK_SECRET },
    "GetParameter of the Spacelift API key": { action: "ssm:GetParameter", resource: API_KEY },
    "GetParametersByPath of the product's path": {
      action: "ssm:GetParametersByPath",
      resource: parameter("/spacelift-role-vending"),
    },
    "PutParameter over the webhook secret": {
      action: "ssm:PutParameter",
      resource: WEBHOOK_SECRET,
    },
    "PutParameter of another stack's role ARN": {
      action: "ssm:PutParameter",
      resource: parameter("/spacelift/acme/stacks/billing-api/role-arn"),
    },
    "DeleteParameter of its own role ARN": {
      action: "ssm:DeleteParameter",
      resource: parameter(`/spacelift/acme/stacks/${STACK}/role-arn`),
    },
    "ReceiveMessage from the event queue": { action: "sqs:ReceiveMessage", resource: QUEUE },
    "SendMessage (a forged event) to the event queue": {
      action: "sqs:SendMessage",
      resource: QUEUE,
    },
    "GetItem from the ledger": { action: "dynamodb:GetItem", resource: TABLE },
    "Scan of the ledger": { action: "dynamodb:Scan", resource: TABLE },
    "PutItem into the ledger": { action: "dynamodb:PutItem", resource: TABLE },
    "Decrypt with the secrets key": {
      action: "kms:Decrypt",
      resource: SECRETS_KEY,
      context: {
        "kms:ResourceAliases": [SECRETS_ALIAS],
        "kms:ViaService": "ssm.us-east-1.amazonaws.com",
      },
    },
  };
}

describe("a vended role with AdministratorAccess under the boundary", () => {
  it("cannot touch the product: functions, queue, table, secrets, key, logs, stack, roles, published ARNs", async () => {
    const calls: Record<string, Call> = {
      ...productCalls(),
      "UpdateFunctionCode of the provisioner": {
        action: "lambda:UpdateFunctionCode",
        resource: product("lambda", `function:${PROVISIONER}`),
      },
      "UpdateFunctionConfiguration of the receiver": {
        action: "lambda:UpdateFunctionConfiguration",
        resource: product("lambda", `function:spacelift-role-vending-${STAGE}-receiver`),
      },
      "UpdateEventSourceMapping of the provisioner's queue": {
        action: "lambda:UpdateEventSourceMapping",
        resource: product("lambda", "event-source-mapping:0b5c4c6b-1111-2222-3333-444455556666"),
        context: { "lambda:FunctionArn": product("lambda", `function:${PROVISIONER}`) },
      },
      "PurgeQueue of the event queue": { action: "sqs:PurgeQueue", resource: QUEUE },
      "SetQueueAttributes (a policy) on the event queue": {
        action: "sqs:SetQueueAttributes",
        resource: QUEUE,
      },
      "PutResourcePolicy on the ledger": { action: "dynamodb:PutResourcePolicy", resource: TABLE },
      "PutKeyPolicy on the secrets key": {
        action: "kms:PutKeyPolicy",
        resource: SECRETS_KEY,
        context: { "kms:ResourceAliases": [SECRETS_ALIAS] },
      },
      "DeleteAlias of the secrets key": {
        action: "kms:DeleteAlias",
        resource: product("kms", SECRETS_ALIAS),
      },
      "DeleteLogGroup of the provisioner": {
        action: "logs:DeleteLogGroup",
        resource: product("logs", `log-group:/aws/lambda/${PROVISIONER}`),
      },
      "DeleteLogGroup of the HTTP API's access logs": {
        action: "logs:DeleteLogGroup",
        resource: product("logs", `log-group:/aws/http-api/spacelift-role-vending-${STAGE}`),
      },
      "PutRetentionPolicy (one day) on the HTTP API's access logs": {
        action: "logs:PutRetentionPolicy",
        resource: product("logs", `log-group:/aws/http-api/spacelift-role-vending-${STAGE}`),
      },
      "DeleteStack of the product": {
        action: "cloudformation:DeleteStack",
        resource: product("cloudformation", `stack/spacelift-role-vending-${STAGE}/abc`),
      },
      "DisableRule of the reconciler's schedule": {
        action: "events:DisableRule",
        resource: product(
          "events",
          `rule/spacelift-role-vending-${STAGE}-ReconcilerEventsRuleSchedule1`,
        ),
      },
      "DisableAlarmActions of the dead-letter alarm": {
        action: "cloudwatch:DisableAlarmActions",
        resource: product("cloudwatch", `alarm:spacelift-role-vending-${STAGE}-dead-letters`),
      },
      "Unsubscribe the alarm topic": {
        action: "sns:SetTopicAttributes",
        resource: product("sns", `spacelift-role-vending-${STAGE}-alarms`),
      },
      "PutObject over a function zip in the deployment bucket": {
        action: "s3:PutObject",
        resource: `arn:aws:s3:::spacelift-role-vending-${STAGE}-serverlessdeploymentbuck-1a2b3c/serverless/spacelift-role-vending/${STAGE}/code.zip`,
      },
      "PutBucketPolicy on the deployment bucket": {
        action: "s3:PutBucketPolicy",
        resource: `arn:aws:s3:::spacelift-role-vending-${STAGE}-serverlessdeploymentbuck-1a2b3c`,
      },
      "PutRolePolicy on the provisioner's role": {
        action: "iam:PutRolePolicy",
        resource: role("/spacelift-role-vending/", PROVISIONER),
      },
      "CreatePolicyVersion of the boundary": {
        action: "iam:CreatePolicyVersion",
        resource: boundaryArn,
      },
    };

    const decisions = await decideCalls(vendedRole("AdministratorAccess"), calls);

    expect(decisions).toEqual(expectedFor(calls, "deny"));
  });

  it("cannot assume roles outside its own delegated path, nor another team's, nor the product's", async () => {
    const calls: Record<string, Call> = {
      "an account admin role": assume(role("/", "OrganizationAccountAccessRole")),
      "another stack's vended role": assume(role("/spacelift/", "spacelift-stack-billing-api")),
      "the provisioner's role": assume(role("/spacelift-role-vending/", PROVISIONER)),
      "another team's delegated role": assume(role(OTHER_TEAMS_DELEGATED, "app")),
      "a role in another account": {
        action: "sts:AssumeRole",
        resource: "arn:aws:iam::210987654321:role/admin",
        resourcePolicy: {
          Version: "2012-10-17",
          Statement: [
            {
              Effect: "Allow",
              Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
              Action: "sts:AssumeRole",
            },
          ],
        },
      },
    };

    const decisions = await decideCalls(vendedRole("AdministratorAccess"), calls);

    expect(decisions).toEqual(expectedFor(calls, "deny"));
  });

  it("cannot write, pass or escape through delegated roles that are not its own or lack the boundary", async () => {
    const calls: Record<string, Call> = {
      "UpdateAssumeRolePolicy of another team's delegated role": {
        action: "iam:UpdateAssumeRolePolicy",
        resource: role(OTHER_TEAMS_DELEGATED, "app"),
        context: bounded(),
      },
      "PutRolePolicy on another team's delegated role": {
        action: "iam:PutRolePolicy",
        resource: role(OTHER_TEAMS_DELEGATED, "app"),
        context: bounded(),
      },
      "PassRole of another team's delegated role": {
        action: "iam:PassRole",
        resource: role(OTHER_TEAMS_DELEGATED, "app"),
      },
      "CreateRole under its own path without a boundary": {
        action: "iam:CreateRole",
        resource: role(OWN_DELEGATED, "escape"),
      },
      "CreateRole under its own path with another boundary": {
        action: "iam:CreateRole",
        resource: role(OWN_DELEGATED, "escape"),
        context: { "iam:PermissionsBoundary": "arn:aws:iam::aws:policy/AdministratorAccess" },
      },
      "AttachRolePolicy AdministratorAccess to a role without the boundary": {
        action: "iam:AttachRolePolicy",
        resource: role(OWN_DELEGATED, "legacy"),
        context: { "iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess" },
      },
      "UpdateAssumeRolePolicy of a role without the boundary": {
        action: "iam:UpdateAssumeRolePolicy",
        resource: role(OWN_DELEGATED, "legacy"),
      },
      "CreateRole tagged as another stack's": {
        action: "iam:CreateRole",
        resource: role(OWN_DELEGATED, "impostor"),
        context: {
          ...bounded(),
          "aws:TagKeys": ["spacelift:stack"],
          "aws:RequestTag/spacelift:stack": "billing-api",
        },
      },
      "TagRole of its own delegated role as another stack's": {
        action: "iam:TagRole",
        resource: role(OWN_DELEGATED, "app"),
        context: {
          "aws:TagKeys": ["spacelift:stack"],
          "aws:RequestTag/spacelift:stack": "billing-api",
        },
      },
      "UpdateAssumeRolePolicy of its own vended role": {
        action: "iam:UpdateAssumeRolePolicy",
        resource: role("/spacelift/", `spacelift-stack-${STACK}`),
        context: bounded(),
      },
      "TagPolicy of the boundary": { action: "iam:TagPolicy", resource: boundaryArn },
      "AddClientIDToOpenIDConnectProvider of the Spacelift provider": {
        action: "iam:AddClientIDToOpenIDConnectProvider",
        resource: `arn:aws:iam::${ACCOUNT}:oidc-provider/acme.app.spacelift.io`,
      },
      "TagOpenIDConnectProvider of the Spacelift provider": {
        action: "iam:TagOpenIDConnectProvider",
        resource: `arn:aws:iam::${ACCOUNT}:oidc-provider/acme.app.spacelift.io`,
      },
      "DetachRolePolicy of its own delegated role without the boundary": {
        action: "iam:DetachRolePolicy",
        resource: role(OWN_DELEGATED, "legacy"),
      },
      "DeleteRolePermissionsBoundary of its own delegated role": {
        action: "iam:DeleteRolePermissionsBoundary",
        resource: role(OWN_DELEGATED, "app"),
        context: bounded(),
      },
    };

    const decisions = await decideCalls(vendedRole("AdministratorAccess"), calls);

    expect(decisions).toEqual(expectedFor(calls, "deny"));
  });

  it("cannot retag or untag any vended role, so it cannot change whose a role is (role-ownership.ts reads only tags)", async () => {
    const spaceRole = role("/spacelift/", `spacelift-space-${SPACE}`);
    const calls: Record<string, Call> = {
      "TagRole of its own vended role with a re-cased stack tag naming another stack": {
        action: "iam:TagRole",
        resource: role("/spacelift/", `spacelift-stack-${STACK}`),
        context: {
          "aws:TagKeys": ["Spacelift:Stack"],
          "aws:RequestTag/Spacelift:Stack": "billing-api",
        },
      },
      "UntagRole of its own vended role's stack tag (it would read as its space's)": {
        action: "iam:UntagRole",
        resource: role("/spacelift/", `spacelift-stack-${STACK}`),
        context: { "aws:TagKeys": ["spacelift:stack"] },
      },
      "TagRole of its space's vended role with a stack tag": {
        action: "iam:TagRole",
        resource: spaceRole,
        context: {
          "aws:TagKeys": ["spacelift:stack"],
          "aws:RequestTag/spacelift:stack": "billing-api",
        },
      },
      "TagRole of another stack's vended role with the orphaned-at tag": {
        action: "iam:TagRole",
        resource: role("/spacelift/", "spacelift-stack-billing-api"),
        context: {
          "aws:TagKeys": ["spacelift:orphaned-at"],
          "aws:RequestTag/spacelift:orphaned-at": "2020-01-01T00:00:00.000Z",
        },
      },
      "UntagRole of another stack's vended role's managed-by tag": {
        action: "iam:UntagRole",
        resource: role("/spacelift/", "spacelift-stack-billing-api"),
        context: { "aws:TagKeys": ["managed-by"] },
      },
    };

    const decisions = await decideCalls(vendedRole("AdministratorAccess"), calls);

    expect(decisions).toEqual(expectedFor(calls, "deny"));
  });

  it("still manages, passes and assumes its own bounded workload roles, and works outside the product", async () => {
    const calls: Record<string, Call> = {
      "CreateRole under its own delegated path with the boundary": {
        action: "iam:CreateRole",
        resource: role(OWN_DELEGATED, "app"),
        context: bounded(),
      },
      "PutRolePolicy on its own bounded delegated role": {
        action: "iam:PutRolePolicy",
        resource: role(OWN_DELEGATED, "app"),
        context: bounded(),
      },
      "UpdateAssumeRolePolicy of its own bounded delegated role": {
        action: "iam:UpdateAssumeRolePolicy",
        resource: role(OWN_DELEGATED, "app"),
        context: bounded(),
      },
      "PassRole of its own delegated role": {
        action: "iam:PassRole",
        resource: role(OWN_DELEGATED, "app"),
      },
      "AssumeRole of its own delegated role": assume(role(OWN_DELEGATED, "app")),
      "CreateRole under its space's delegated path": {
        action: "iam:CreateRole",
        resource: role(`/spacelift-workloads/space/${SPACE}/`, "shared"),
        context: bounded(),
      },
      "s3:PutObject in an application bucket": {
        action: "s3:PutObject",
        resource: "arn:aws:s3:::payments-artifacts/build.zip",
      },
      "lambda:UpdateFunctionCode of its own function": {
        action: "lambda:UpdateFunctionCode",
        resource: product("lambda", "function:payments-api"),
      },
      "GetParameter of its own published role ARN": {
        action: "ssm:GetParameter",
        resource: parameter(`/spacelift/acme/stacks/${STACK}/role-arn`),
      },
      "PutParameter of application configuration": {
        action: "ssm:PutParameter",
        resource: parameter("/payments-api/config"),
      },
    };

    const decisions = await decideCalls(vendedRole("AdministratorAccess"), calls);

    expect(decisions).toEqual(expectedFor(calls, "allow"));
  });

  it("denies every call on the HTTP API by its stack tag (the evaluator has no HTTP API resource types)", () => {
    const statements = boundary.Statement as PolicyDocument[];

    expect(statements).toContainEqual({
      Sid: "DenyProductApi",
      Effect: "Deny",
      Action: "apigateway:*",
      Resource: "*",
      Condition: { StringEquals: { "aws:ResourceTag/service": "spacelift-role-vending" } },
    });
  });

  it("fits IAM's 6,144-character limit for a managed policy", () => {
    expect(JSON.stringify(boundary).length).toBeLessThanOrEqual(6144);
  });
});

/**
 * A stack's own workload role (its delegated corner) whose session carries another stack's or
 * space's spacelift:* tag. The stack cannot tag it so itself (DenySpaceliftTags), but it sets
 * the role's trust: a principal of another account it controls, which STS lets pass any session
 * tags the trust allows (sts:TagSession; the caller's own account governs the caller), or a
 * Cognito identity pool mapping claims to principal tags. A session tag overrides a role tag
 * of the same key (AWS STS API reference, AssumeRole: "session tags override a role tag with
 * the same key"), and tag keys are not case sensitive there, so `SPACELIFT:STACK`, which the
 * case-sensitive StringLike of DenySpaceliftTags does not match, names the same tag.
 */
function delegatedRoleWithForgedTags(tags: Record<string, string>): Principal {
  return {
    arn: role(OWN_DELEGATED, "app"),
    identityPolicies: { AdministratorAccess: awsManagedPolicy("AdministratorAccess") },
    boundary,
    context: Object.fromEntries(
      Object.entries(tags).map(([key, value]) => [`aws:PrincipalTag/${key}`, value]),
    ),
  };
}

describe("a stack's workload role whose session carries another stack's spacelift:* tags", () => {
  const OTHER_SPACE = "finance-01HND497T9JKR76MR3KA2CDJHQ";
  const otherStacksCorner = (): Record<string, Call> => ({
    "UpdateAssumeRolePolicy of the other stack's delegated role": {
      action: "iam:UpdateAssumeRolePolicy",
      resource: role(OTHER_TEAMS_DELEGATED, "app"),
      context: bounded(),
    },
    "PutRolePolicy on the other stack's delegated role": {
      action: "iam:PutRolePolicy",
      resource: role(OTHER_TEAMS_DELEGATED, "app"),
      context: bounded(),
    },
    "PassRole of the other stack's delegated role": {
      action: "iam:PassRole",
      resource: role(OTHER_TEAMS_DELEGATED, "app"),
    },
    "AssumeRole of the other stack's delegated role": assume(role(OTHER_TEAMS_DELEGATED, "app")),
    "CreateRole in the other space's corner": {
      action: "iam:CreateRole",
      resource: role(`/spacelift-workloads/space/${OTHER_SPACE}/`, "shared"),
      context: bounded(),
    },
    "s3:GetObject of a bucket whose policy trusts aws:PrincipalTag/spacelift:stack": {
      action: "s3:GetObject",
      resource: "arn:aws:s3:::billing-artifacts/release.zip",
    },
  });

  it("gets nothing from them: neither the other stack's or space's corner nor anything else", async () => {
    const calls = otherStacksCorner();
    const forged = delegatedRoleWithForgedTags({
      "spacelift:stack": "billing-api",
      "spacelift:space": OTHER_SPACE,
    });

    const decisions = await decideCalls(forged, calls);

    expect(decisions).toEqual(expectedFor(calls, "deny"));
  });

  it("gets nothing from a forged space tag alone", async () => {
    const calls = otherStacksCorner();
    const forged = delegatedRoleWithForgedTags({ "spacelift:space": OTHER_SPACE });

    const decisions = await decideCalls(forged, calls);

    expect(decisions).toEqual(expectedFor(calls, "deny"));
  });

  it("while the same workload role without spacelift:* tags keeps its grants inside the boundary", async () => {
    const calls: Record<string, Call> = {
      "s3:PutObject in an application bucket": {
        action: "s3:PutObject",
        resource: "arn:aws:s3:::payments-artifacts/build.zip",
      },
      "lambda:UpdateFunctionCode of its stack's function": {
        action: "lambda:UpdateFunctionCode",
        resource: product("lambda", "function:payments-api"),
      },
    };

    const decisions = await decideCalls(delegatedRoleWithForgedTags({}), calls);

    expect(decisions).toEqual(expectedFor(calls, "allow"));
  });
});

describe("a vended role with AdministratorAccess in an IAM Identity Center account", () => {
  it("cannot give anyone, itself included, a permission set on the organization's accounts", async () => {
    // In the organization's management account (or Identity Center's delegated administrator),
    // these calls hand out AdministratorAccess on every account, far past this boundary.
    const instance = "arn:aws:sso:::instance/ssoins-6684f5b7e1234567";
    const permissionSet = "arn:aws:sso:::permissionSet/ssoins-6684f5b7e1234567/ps-0123456789abcdef";
    const calls: Record<string, Call> = {
      "sso:CreatePermissionSet": { action: "sso:CreatePermissionSet", resource: instance },
      "sso:AttachManagedPolicyToPermissionSet": {
        action: "sso:AttachManagedPolicyToPermissionSet",
        resource: permissionSet,
      },
      "sso:CreateAccountAssignment": {
        action: "sso:CreateAccountAssignment",
        resource: permissionSet,
      },
      "identitystore:CreateUser": {
        action: "identitystore:CreateUser",
        resource: `arn:aws:identitystore::${ACCOUNT}:identitystore/d-9067e0a1b2`,
      },
    };

    const decisions = await decideCalls(vendedRole("AdministratorAccess"), calls);

    expect(decisions).toEqual(expectedFor(calls, "deny"));
  });
});

describe("a vended role with the README's ReadOnlyAccess under the boundary", () => {
  it("reads none of the product's secrets, messages or ledger", async () => {
    const calls = productCalls();

    const decisions = await decideCalls(vendedRole("ReadOnlyAccess"), calls);

    expect(decisions).toEqual(expectedFor(calls, "deny"));
  });

  it("still reads what ReadOnlyAccess is for", async () => {
    const calls: Record<string, Call> = {
      "s3:GetObject": { action: "s3:GetObject", resource: "arn:aws:s3:::payments-artifacts/a" },
      "ec2:DescribeInstances": { action: "ec2:DescribeInstances", resource: "*" },
      "ssm:GetParameter of its role ARN": {
        action: "ssm:GetParameter",
        resource: parameter(`/spacelift/acme/stacks/${STACK}/role-arn`),
      },
    };

    const decisions = await decideCalls(vendedRole("ReadOnlyAccess"), calls);

    expect(decisions).toEqual(expectedFor(calls, "allow"));
  });
});

describe("the boundary without delegation", () => {
  it(
    "lets a vended role create, pass or assume no role at all",
    async () => {
      const { document } = await renderBoundaryPolicy({ allow_delegated_roles: false });
      const principal = { ...vendedRole("AdministratorAccess"), boundary: document };
      const calls: Record<string, Call> = {
        CreateRole: {
          action: "iam:CreateRole",
          resource: role(OWN_DELEGATED, "app"),
          context: bounded(),
        },
        PassRole: { action: "iam:PassRole", resource: role(OWN_DELEGATED, "app") },
        AssumeRole: assume(role(OWN_DELEGATED, "app")),
      };

      const decisions = await decideCalls(principal, calls);

      expect(decisions).toEqual(expectedFor(calls, "deny"));
    },
    TERRAFORM_TIMEOUT,
  );
});
