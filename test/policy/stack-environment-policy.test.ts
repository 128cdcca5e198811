/**
 * The provisioner's rights on the Spacelift API key, decided by a policy evaluator over the
 * packaged template (its role's statements, and the secrets key's policy): with
 * stackEnvironment=true it may read the key and decrypt it through SSM, never write it; off
 * (the default), it may do neither.
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  type Call,
  decideCall,
  type PolicyDocument,
} from "../../testkit/policy/principal-evaluate.ts";
import {
  type CloudFormationTemplate,
  loadPackagedTemplate,
  MINIMAL_PARAMS,
  PACKAGED_REGION,
  PACKAGED_STAGE,
  resolveIntrinsics,
  rolePolicyDocuments,
  STACK_ENVIRONMENT_PARAMS,
  TEMPLATE_ACCOUNT_ID,
} from "../../testkit/policy/serverless-template.ts";

const ACCOUNT = TEMPLATE_ACCOUNT_ID;
const API_KEY = `arn:aws:ssm:${PACKAGED_REGION}:${ACCOUNT}:parameter/spacelift-role-vending/spacelift-api-key`;
const KEY = `arn:aws:kms:${PACKAGED_REGION}:${ACCOUNT}:key/SecretsKey`;
const VIA_SSM = { "kms:ViaService": `ssm.${PACKAGED_REGION}.amazonaws.com` };
const WEBHOOK_SECRET = `arn:aws:ssm:${PACKAGED_REGION}:${ACCOUNT}:parameter/spacelift-role-vending/webhook-secret`;

/**
 * kms:Decrypt of one SecureString through SSM: SSM passes the parameter's ARN as the encryption
 * context PARAMETER_ARN, which the key policy keys on (unfiltered: the validated evaluator drops
 * kms:EncryptionContext keys).
 */
function decryptThroughSsm(parameterArn: string): Call {
  return {
    action: "kms:Decrypt",
    resource: KEY,
    unfilteredContext: true,
    context: { ...VIA_SSM, "kms:EncryptionContext:PARAMETER_ARN": parameterArn },
  };
}

let on: CloudFormationTemplate;
let off: CloudFormationTemplate;

beforeAll(async () => {
  [on, off] = await Promise.all([
    loadPackagedTemplate(STACK_ENVIRONMENT_PARAMS),
    loadPackagedTemplate(MINIMAL_PARAMS),
  ]);
}, 300_000);

/** One call by the provisioner; kms calls are decided with the key's policy too. */
function decide(template: CloudFormationTemplate, call: Call) {
  const keyPolicy = resolveIntrinsics(
    template,
    template.Resources.SecretsKey.Properties.KeyPolicy,
  ) as PolicyDocument;
  return decideCall(
    {
      arn: `arn:aws:iam::${ACCOUNT}:role/spacelift-role-vending/spacelift-role-vending-${PACKAGED_STAGE}-provisioner`,
      identityPolicies: rolePolicyDocuments(template, "ProvisionerRole"),
    },
    call.action.startsWith("kms:") ? { ...call, resourcePolicy: keyPolicy } : call,
  );
}

describe("provisioner and the Spacelift API key", () => {
  it("with stackEnvironment=true: reads and decrypts it through SSM, never writes it nor decrypts the webhook secret", async () => {
    expect({
      get: await decide(on, { action: "ssm:GetParameter", resource: API_KEY }),
      decryptViaSsm: await decide(on, decryptThroughSsm(API_KEY)),
      decryptWebhookSecret: await decide(on, decryptThroughSsm(WEBHOOK_SECRET)),
      decryptDirectly: await decide(on, { action: "kms:Decrypt", resource: KEY }),
      put: await decide(on, { action: "ssm:PutParameter", resource: API_KEY }),
      delete: await decide(on, { action: "ssm:DeleteParameter", resource: API_KEY }),
    }).toEqual({
      get: "allow",
      decryptViaSsm: "allow",
      decryptWebhookSecret: "deny",
      decryptDirectly: "deny",
      put: "deny",
      delete: "deny",
    });
  });

  it("off (the default): may neither read nor decrypt it", async () => {
    expect({
      get: await decide(off, { action: "ssm:GetParameter", resource: API_KEY }),
      decryptViaSsm: await decide(off, decryptThroughSsm(API_KEY)),
    }).toEqual({ get: "deny", decryptViaSsm: "deny" });
  });
});
