/**
 * Who may use the product's queues, table and secrets key, as deployed: the resource policies
 * and the key policy come from the packaged template, the functions' identity policies too,
 * and an IAM policy evaluator decides. The intruder is any principal of the account with
 * ReadOnlyAccess (the README's example default grant), with no boundary at all: only the
 * resource policies stand between it and the product's messages, ledger and secrets.
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  awsManagedPolicy,
  type Call,
  type Decision,
  decideCall,
  decideCalls,
  expectedFor,
  type PolicyDocument,
  type Principal,
} from "../../testkit/policy/principal-evaluate.ts";
import {
  type CloudFormationTemplate,
  loadPackagedTemplate,
  PACKAGED_REGION,
  PACKAGED_STAGE,
  resolveIntrinsics,
  rolePolicyDocuments,
  TEMPLATE_ACCOUNT_ID,
} from "../../testkit/policy/serverless-template.ts";

const ACCOUNT = TEMPLATE_ACCOUNT_ID;
const REGION = PACKAGED_REGION;
const NAME = `spacelift-role-vending-${PACKAGED_STAGE}`;
const QUEUE = `arn:aws:sqs:${REGION}:${ACCOUNT}:${NAME}-events.fifo`;
const DLQ = `arn:aws:sqs:${REGION}:${ACCOUNT}:${NAME}-events-dlq.fifo`;
const TABLE = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${NAME}-ledger`;
const KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/SecretsKey`;
const VIA_SSM = { "kms:ViaService": `ssm.${REGION}.amazonaws.com` };
const PACKAGING_TIMEOUT = 300_000;

let template: CloudFormationTemplate;
let queuePolicy: PolicyDocument;
let tablePolicy: PolicyDocument;
let keyPolicy: PolicyDocument;

beforeAll(async () => {
  template = await loadPackagedTemplate();
  const resources = template.Resources;
  queuePolicy = resolveIntrinsics(
    template,
    resources.EventQueuePolicy.Properties.PolicyDocument,
  ) as PolicyDocument;
  tablePolicy = resolveIntrinsics(
    template,
    resources.LedgerTable.Properties.ResourcePolicy.PolicyDocument,
  ) as PolicyDocument;
  keyPolicy = resolveIntrinsics(
    template,
    resources.SecretsKey.Properties.KeyPolicy,
  ) as PolicyDocument;
}, PACKAGING_TIMEOUT);

function functionRole(name: "receiver" | "provisioner" | "reconciler"): Principal {
  const logicalId = `${name[0]?.toUpperCase()}${name.slice(1)}Role`;
  return {
    arn: `arn:aws:iam::${ACCOUNT}:role/spacelift-role-vending/${NAME}-${name}`,
    identityPolicies: rolePolicyDocuments(template, logicalId),
  };
}

const readOnly = (): Principal => ({
  arn: `arn:aws:iam::${ACCOUNT}:role/auditors`,
  identityPolicies: { ReadOnlyAccess: awsManagedPolicy("ReadOnlyAccess") },
});
const administrator = (): Principal => ({
  arn: `arn:aws:iam::${ACCOUNT}:role/platform-admin`,
  identityPolicies: { AdministratorAccess: awsManagedPolicy("AdministratorAccess") },
});
const operator = (): Principal => ({
  arn: `arn:aws:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Operator_0123456789abcdef`,
  identityPolicies: { AdministratorAccess: awsManagedPolicy("AdministratorAccess") },
});

/**
 * KMS: IAM policies count only for what the key policy grants to the account
 * (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html); the
 * evaluator models this (without a key policy it denies every key operation).
 */
function decideKms(principal: Principal, call: Call): Promise<Decision> {
  return decideCall(principal, { ...call, resourcePolicy: keyPolicy });
}

const dataPlane = (): Record<string, Call> => ({
  "sqs:ReceiveMessage on the event queue": { action: "sqs:ReceiveMessage", resource: QUEUE },
  "sqs:ReceiveMessage on the dead-letter queue": { action: "sqs:ReceiveMessage", resource: DLQ },
  "sqs:SendMessage (a forged event)": { action: "sqs:SendMessage", resource: QUEUE },
  "sqs:DeleteMessage": { action: "sqs:DeleteMessage", resource: QUEUE },
  "dynamodb:GetItem": { action: "dynamodb:GetItem", resource: TABLE },
  "dynamodb:Scan": { action: "dynamodb:Scan", resource: TABLE },
  "dynamodb:PutItem": { action: "dynamodb:PutItem", resource: TABLE },
});

/** Each call against its resource's policy. */
function withResourcePolicy(calls: Record<string, Call>): Record<string, Call> {
  return Object.fromEntries(
    Object.entries(calls).map(([name, call]) => [
      name,
      { ...call, resourcePolicy: call.action.startsWith("sqs:") ? queuePolicy : tablePolicy },
    ]),
  );
}

describe("the queues and the ledger", () => {
  it("refuse their data plane to a ReadOnlyAccess principal and to an account administrator", async () => {
    const calls = withResourcePolicy(dataPlane());

    const decisions = {
      readOnly: await decideCalls(readOnly(), calls),
      administrator: await decideCalls(administrator(), calls),
    };

    expect(decisions).toEqual({
      readOnly: expectedFor(calls, "deny"),
      administrator: expectedFor(calls, "deny"),
    });
  });

  it("serve the functions the calls they make", async () => {
    const decisions = {
      "receiver sqs:SendMessage": await decideCall(functionRole("receiver"), {
        action: "sqs:SendMessage",
        resource: QUEUE,
        resourcePolicy: queuePolicy,
      }),
      "provisioner sqs:ReceiveMessage": await decideCall(functionRole("provisioner"), {
        action: "sqs:ReceiveMessage",
        resource: QUEUE,
        resourcePolicy: queuePolicy,
      }),
      "provisioner sqs:DeleteMessage": await decideCall(functionRole("provisioner"), {
        action: "sqs:DeleteMessage",
        resource: QUEUE,
        resourcePolicy: queuePolicy,
      }),
      "provisioner dynamodb:PutItem": await decideCall(functionRole("provisioner"), {
        action: "dynamodb:PutItem",
        resource: TABLE,
        resourcePolicy: tablePolicy,
      }),
      "reconciler dynamodb:GetItem": await decideCall(functionRole("reconciler"), {
        action: "dynamodb:GetItem",
        resource: TABLE,
        resourcePolicy: tablePolicy,
      }),
    };

    expect(decisions).toEqual(expectedFor(decisions, "allow"));
  });

  it("let the reconciler send its plan to the event queue and do nothing else new with the queues", async () => {
    const reconciler = functionRole("reconciler");
    const allowed = withResourcePolicy({
      "sqs:SendMessage to the event queue": { action: "sqs:SendMessage", resource: QUEUE },
    });
    const denied = withResourcePolicy({
      "sqs:SendMessage to the dead-letter queue": { action: "sqs:SendMessage", resource: DLQ },
      "sqs:ReceiveMessage": { action: "sqs:ReceiveMessage", resource: QUEUE },
      "sqs:DeleteMessage": { action: "sqs:DeleteMessage", resource: QUEUE },
      "sqs:PurgeQueue": { action: "sqs:PurgeQueue", resource: QUEUE },
      "sqs:ChangeMessageVisibility": { action: "sqs:ChangeMessageVisibility", resource: QUEUE },
      "sqs:StartMessageMoveTask": { action: "sqs:StartMessageMoveTask", resource: DLQ },
      "sqs:SetQueueAttributes": { action: "sqs:SetQueueAttributes", resource: QUEUE },
    });

    const decisions = {
      ...(await decideCalls(reconciler, allowed)),
      ...(await decideCalls(reconciler, denied)),
    };

    expect(decisions).toEqual({
      ...expectedFor(allowed, "allow"),
      ...expectedFor(denied, "deny"),
    });
  });

  it("refuse a vended stack role with AdministratorAccess a message on the event queue", async () => {
    const vended: Principal = {
      arn: `arn:aws:iam::${ACCOUNT}:role/spacelift/payments-api`,
      identityPolicies: { AdministratorAccess: awsManagedPolicy("AdministratorAccess") },
    };
    const calls = withResourcePolicy({
      "sqs:SendMessage to the event queue": { action: "sqs:SendMessage", resource: QUEUE },
    });

    const decisions = await decideCalls(vended, calls);

    expect(decisions).toEqual(expectedFor(calls, "deny"));
  });

  it("let the listed operators redrive the dead-letter queue and read the ledger", async () => {
    const calls = withResourcePolicy({
      "sqs:StartMessageMoveTask": { action: "sqs:StartMessageMoveTask", resource: DLQ },
      "sqs:ReceiveMessage on the dead-letter queue": {
        action: "sqs:ReceiveMessage",
        resource: DLQ,
      },
      "sqs:SendMessage to the event queue": { action: "sqs:SendMessage", resource: QUEUE },
      "dynamodb:GetItem": { action: "dynamodb:GetItem", resource: TABLE },
    });

    const decisions = await decideCalls(operator(), calls);

    expect(decisions).toEqual(expectedFor(calls, "allow"));
  });

  it("leave the control plane (CloudFormation's updates) alone", async () => {
    const calls = withResourcePolicy({
      "sqs:SetQueueAttributes": { action: "sqs:SetQueueAttributes", resource: QUEUE },
      "dynamodb:UpdateTable": { action: "dynamodb:UpdateTable", resource: TABLE },
      "dynamodb:PutResourcePolicy": { action: "dynamodb:PutResourcePolicy", resource: TABLE },
    });

    const decisions = await decideCalls(administrator(), calls);

    expect(decisions).toEqual(expectedFor(calls, "allow"));
  });
});

describe("the secrets key", () => {
  it("decrypts (through SSM) for the receiver, the reconciler and the operators only", async () => {
    // Each function asks for the secret it reads (encryption context: the parameter's ARN).
    const decryptOf = (name: string, context: Record<string, string> = VIA_SSM): Call => ({
      action: "kms:Decrypt",
      resource: KEY,
      unfilteredContext: true,
      context: {
        ...context,
        "kms:EncryptionContext:PARAMETER_ARN": `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${name}`,
      },
    });
    const webhookSecret = decryptOf("/spacelift-role-vending/webhook-secret");
    const apiKey = decryptOf("/spacelift-role-vending/spacelift-api-key");

    const decisions = {
      receiver: await decideKms(functionRole("receiver"), webhookSecret),
      reconciler: await decideKms(functionRole("reconciler"), apiKey),
      operator: await decideKms(operator(), webhookSecret),
      provisioner: await decideKms(functionRole("provisioner"), webhookSecret),
      "ReadOnlyAccess principal": await decideKms(readOnly(), webhookSecret),
      "account administrator": await decideKms(administrator(), webhookSecret),
      "receiver, not through SSM": await decideKms(
        functionRole("receiver"),
        decryptOf("/spacelift-role-vending/webhook-secret", {}),
      ),
    };

    expect(decisions).toEqual({
      receiver: "allow",
      reconciler: "allow",
      operator: "allow",
      provisioner: "deny",
      "ReadOnlyAccess principal": "deny",
      "account administrator": "deny",
      "receiver, not through SSM": "deny",
    });
  });

  it("decrypts each secret only for the function that reads it, and for the operators", async () => {
    // SSM encrypts a SecureString with the encryption context PARAMETER_ARN = the parameter's
    // ARN (AWS KMS developer guide, "How AWS Systems Manager Parameter Store uses AWS KMS"), so
    // the key policy can tell the secrets apart. Without it, the reconciler could decrypt the
    // webhook secret (and forge events) as soon as any of its IAM grants reached that
    // parameter, e.g. a parameterPrefix that contains it.
    const secret = (name: string): Call => ({
      action: "kms:Decrypt",
      resource: KEY,
      unfilteredContext: true,
      context: {
        ...VIA_SSM,
        "kms:EncryptionContext:PARAMETER_ARN": `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${name}`,
      },
    });
    const webhookSecret = secret("/spacelift-role-vending/webhook-secret");
    const previousSecret = secret("/spacelift-role-vending/webhook-secret-previous");
    const apiKey = secret("/spacelift-role-vending/spacelift-api-key");
    const published = secret("/spacelift/123456789012/stacks/payments-api/role-arn");

    const decisions = {
      "receiver, webhook secret": await decideKms(functionRole("receiver"), webhookSecret),
      "receiver, previous webhook secret": await decideKms(
        functionRole("receiver"),
        previousSecret,
      ),
      "receiver, API key": await decideKms(functionRole("receiver"), apiKey),
      "reconciler, API key": await decideKms(functionRole("reconciler"), apiKey),
      "reconciler, webhook secret": await decideKms(functionRole("reconciler"), webhookSecret),
      "reconciler, previous webhook secret": await decideKms(
        functionRole("reconciler"),
        previousSecret,
      ),
      "reconciler, another parameter": await decideKms(functionRole("reconciler"), published),
      "operator, webhook secret": await decideKms(operator(), webhookSecret),
      "operator, API key": await decideKms(operator(), apiKey),
    };

    expect(decisions).toEqual({
      "receiver, webhook secret": "allow",
      "receiver, previous webhook secret": "allow",
      "receiver, API key": "deny",
      "reconciler, API key": "allow",
      "reconciler, webhook secret": "deny",
      "reconciler, previous webhook secret": "deny",
      "reconciler, another parameter": "deny",
      "operator, webhook secret": "allow",
      "operator, API key": "allow",
    });
  });

  it("lets an account administrator write secrets and administer the key, but grant nothing", async () => {
    const decisions = {
      "kms:Encrypt through SSM": await decideKms(administrator(), {
        action: "kms:Encrypt",
        resource: KEY,
        context: VIA_SSM,
      }),
      "kms:PutKeyPolicy": await decideKms(administrator(), {
        action: "kms:PutKeyPolicy",
        resource: KEY,
      }),
      "kms:CreateGrant": await decideKms(administrator(), {
        action: "kms:CreateGrant",
        resource: KEY,
      }),
      "kms:ReEncryptFrom": await decideKms(administrator(), {
        action: "kms:ReEncryptFrom",
        resource: KEY,
      }),
    };

    expect(decisions).toEqual({
      "kms:Encrypt through SSM": "allow",
      "kms:PutKeyPolicy": "allow",
      "kms:CreateGrant": "deny",
      "kms:ReEncryptFrom": "deny",
    });
  });
});
