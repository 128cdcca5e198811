/**
 * Space paths kept in DynamoDB (the ledger table, `spacepath:<id>` items) and a `{spacePath}`
 * role written to IAM, against a real moto_server.
 */
import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { IAMClient } from "@aws-sdk/client-iam";
import { SSMClient } from "@aws-sdk/client-ssm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DynamoDbLedger } from "../../../functions/adapters/dynamodb-ledger.ts";
import { DynamoDbSpacePaths } from "../../../functions/adapters/dynamodb-space-paths.ts";
import { IamRoleStore } from "../../../functions/adapters/iam-role-store.ts";
import { SsmParameterStore } from "../../../functions/adapters/ssm-parameter-store.ts";
import { loadVendingConfig } from "../../../functions/core/config.ts";
import type { SpaceId } from "../../../functions/core/identifiers.ts";
import { processMessage } from "../../../functions/core/process-queue-message.ts";
import type { ProvisionerDeps } from "../../../functions/core/provision.ts";
import { resolveSpacePath } from "../../../functions/core/subject.ts";
import { readRole } from "../../../testkit/aws/clients.ts";
import { createLedgerTable, localClientConfig } from "../../../testkit/aws/local-aws.ts";
import { type MotoServer, startMotoServer } from "../../../testkit/aws/moto.ts";
import { auditEvent } from "../../../testkit/spacelift/events.ts";
import { SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const TABLE = "spacelift-role-vending-ledger";
const PROD = "production-01HND497T9JKR76MR3KA2CDJHP" as SpaceId;
const PROD_US = "us-east-1-01HQ1234567890ABCDEFGHJKMN" as SpaceId;

let moto: MotoServer;
let dynamodb: DynamoDBClient;
let iam: IAMClient;
let ssm: SSMClient;

beforeAll(async () => {
  moto = await startMotoServer();
  dynamodb = new DynamoDBClient(localClientConfig(moto.endpoint));
  iam = new IAMClient(localClientConfig(moto.endpoint));
  ssm = new SSMClient(localClientConfig(moto.endpoint));
});

afterAll(async () => {
  await moto?.stop();
});

beforeEach(async () => {
  await moto.reset();
  await createLedgerTable(dynamodb, TABLE);
});

describe("DynamoDbSpacePaths", () => {
  it("keeps a space's name and parent under spacepath:<id>, and forgets them on remove", async () => {
    const store = new DynamoDbSpacePaths(dynamodb, TABLE);

    await store.put({ spaceId: PROD, name: "production", parentSpaceId: "root" as SpaceId }, 10);

    expect(await store.get(PROD)).toEqual({
      spaceId: PROD,
      name: "production",
      parentSpaceId: "root",
    });
    const item = await dynamodb.send(
      new GetItemCommand({ TableName: TABLE, Key: { resource: { S: `spacepath:${PROD}` } } }),
    );
    expect(item.Item?.timestamp?.N).toBe("10");
    await store.remove(PROD);
    expect(await store.get(PROD)).toBeUndefined();
  });

  it("never lets an older event's record replace a newer one", async () => {
    const store = new DynamoDbSpacePaths(dynamodb, TABLE);
    await store.put({ spaceId: PROD, name: "prod", parentSpaceId: "root" as SpaceId }, 20);

    await store.put({ spaceId: PROD, name: "production", parentSpaceId: "root" as SpaceId }, 10);

    expect((await store.get(PROD))?.name).toBe("prod");
  });

  it("shares the ledger table without touching the ledger's entries", async () => {
    const store = new DynamoDbSpacePaths(dynamodb, TABLE);
    const ledger = new DynamoDbLedger(dynamodb, TABLE);
    await ledger.record({ resource: `space:${PROD}`, timestamp: 5, state: "present" });

    await store.put({ spaceId: PROD, name: "production", parentSpaceId: "root" as SpaceId }, 7);
    await store.remove(PROD);

    expect(await ledger.get(`space:${PROD}`)).toEqual({
      resource: `space:${PROD}`,
      timestamp: 5,
      state: "present",
    });
  });
});

describe("a {spacePath} role through the real adapters", () => {
  it("is written to IAM with the path the space events told", async () => {
    const deps: ProvisionerDeps = {
      config: await loadVendingConfig({
        SPACELIFT_HOSTNAME: SPACELIFT_HOST,
        UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY: "true",
        AWS_ACCOUNT_ID: "123456789012",
        SUBJECT_TEMPLATE: "{spaceId}|{spacePath}|{callerType}:{callerId}|{runType}|{scope}",
      }),
      roles: new IamRoleStore(iam),
      parameters: new SsmParameterStore(ssm),
      ledger: new DynamoDbLedger(dynamodb, TABLE),
      spacePaths: new DynamoDbSpacePaths(dynamodb, TABLE),
      sleep: async () => {},
    };
    const send = (event: Record<string, unknown>) => processMessage(JSON.stringify(event), deps);

    await send(
      auditEvent("space.create", {
        account: "acme",
        space: PROD,
        parentSpace: "root",
        timestamp: 1,
      }),
    );
    await send(
      auditEvent("space.create", {
        account: "acme",
        space: PROD_US,
        parentSpace: PROD,
        timestamp: 2,
      }),
    );
    await send(
      auditEvent("stack.create", { account: "acme", stack: "infra", space: PROD_US, timestamp: 3 }),
    );

    expect(await resolveSpacePath(PROD_US, deps.spacePaths)).toBe("/root/production/us-east-1");
    const role = await readRole(iam, "spacelift-stack-infra");
    expect(role?.trust.Statement[0].Condition.StringLike[`${SPACELIFT_HOST}:sub`]).toBe(
      `${PROD_US}|/root/production/us-east-1|stack:infra|*`,
    );
    const space = await readRole(iam, `spacelift-space-${PROD_US}`);
    expect(space?.trust.Statement[0].Condition.StringLike[`${SPACELIFT_HOST}:sub`]).toBe(
      `${PROD_US}|/root/production/us-east-1|*`,
    );
  });
});
