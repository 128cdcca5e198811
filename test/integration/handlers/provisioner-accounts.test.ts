/**
 * The provisioner Lambda's handler, composed as the Lambda composes it (composeProvisioner), with
 * a permissions file that routes the production space to a second account: a stack created
 * there gets its role in 222222222222 through the vending role, and its ARN in both accounts.
 */
import { CreatePolicyCommand, IAMClient } from "@aws-sdk/client-iam";
import { SSMClient } from "@aws-sdk/client-ssm";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import type { Context } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StsAccountAccess } from "../../../functions/adapters/sts-account-access.ts";
import { composeProvisioner } from "../../../functions/compose.ts";
import { createHandler } from "../../../functions/handlers/provisioner.ts";
import { readParameter, readRole, testClients } from "../../../testkit/aws/clients.ts";
import { createLocalAwsResources, localClientConfig } from "../../../testkit/aws/local-aws.ts";
import { type MotoServer, startMotoServer } from "../../../testkit/aws/moto.ts";
import { sqsEvent } from "../../../testkit/lambda/sqs-event.ts";
import { fixtureBody, SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const TARGET = "222222222222";
const ROLE = "spacelift-stack-payments-api";
const PARAMETER = "/spacelift/acme/stacks/payments-api/role-arn";

let moto: MotoServer;

beforeAll(async () => {
  moto = await startMotoServer();
});

afterAll(async () => {
  await moto?.stop();
});

async function clientsIn(account: string) {
  const { Credentials } = await new STSClient(localClientConfig(moto.endpoint)).send(
    new AssumeRoleCommand({
      RoleArn: `arn:aws:iam::${account}:role/inspector`,
      RoleSessionName: "test",
    }),
  );
  return testClientsWith({
    accessKeyId: Credentials?.AccessKeyId ?? "",
    secretAccessKey: Credentials?.SecretAccessKey ?? "",
    sessionToken: Credentials?.SessionToken ?? "",
  });
}

function testClientsWith(credentials: {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}) {
  const config = { endpoint: moto.endpoint, region: "us-east-1", credentials };
  return { iam: new IAMClient(config), ssm: new SSMClient(config) };
}

describe("the provisioner Lambda with a second account", () => {
  it("composes account access from the permissions file and vends the routed stack's role in that account", async () => {
    const service = testClients(moto.endpoint);
    const target = await clientsIn(TARGET);
    const resources = await createLocalAwsResources({
      endpoint: moto.endpoint,
      spaceliftHostname: SPACELIFT_HOST,
    });
    const boundary = `arn:aws:iam::${TARGET}:policy/spacelift-boundary`;
    await target.iam.send(
      new CreatePolicyCommand({
        PolicyName: "spacelift-boundary",
        PolicyDocument: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }],
        }),
      }),
    );
    process.env.AWS_ENDPOINT_URL = moto.endpoint;
    const deps = await composeProvisioner({
      SPACELIFT_HOSTNAME: SPACELIFT_HOST,
      AWS_ACCOUNT_ID: "123456789012",
      LEDGER_TABLE: resources.ledgerTable,
      PERMISSIONS_CONFIG: JSON.stringify({
        permissionsBoundaryArn: resources.permissionsBoundaryArn,
        accounts: [
          {
            id: TARGET,
            vendingRoleArn: `arn:aws:iam::${TARGET}:role/spacelift-vending`,
            spaces: ["production-*"],
            permissionsBoundaryArn: boundary,
          },
        ],
      }),
    });
    const handler = createHandler({ provisioner: deps });

    const result = await handler(
      sqsEvent([{ body: fixtureBody("stack.create"), group: "stack:payments-api" }]),
      {
        getRemainingTimeInMillis: () => 60_000,
      } as Context,
    );

    expect(result).toEqual({ batchItemFailures: [] });
    expect(deps.accounts).toBeInstanceOf(StsAccountAccess);
    const role = await readRole(target.iam, ROLE);
    expect(role).toMatchObject({
      arn: `arn:aws:iam::${TARGET}:role/spacelift/${ROLE}`,
      boundary,
      tags: { "spacelift:stack": "payments-api", "managed-by": "spacelift-role-vending" },
    });
    expect(role?.trust.Statement[0].Principal.Federated).toBe(
      `arn:aws:iam::${TARGET}:oidc-provider/${SPACELIFT_HOST}`,
    );
    expect(await readRole(service.iam, ROLE)).toBeUndefined();
    expect((await readParameter(service.ssm, PARAMETER))?.value).toBe(role?.arn);
    expect((await readParameter(target.ssm, PARAMETER))?.value).toBe(role?.arn);
  });
});
