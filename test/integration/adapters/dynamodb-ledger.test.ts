/**
 * DynamoDbLedger against a real moto_server: the conditional write that keeps a resource's
 * timestamp from moving backwards, and a deletion from being undone at its own timestamp, even
 * when two writers race; and tombstones that outlive every event the receiver can still accept.
 */
import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  DynamoDbLedger,
  TOMBSTONE_RETENTION_SECONDS,
} from "../../../functions/adapters/dynamodb-ledger.ts";
import { MAX_EVENT_MAX_AGE_SECONDS } from "../../../functions/core/audit-event.ts";
import { createLedgerTable, localClientConfig } from "../../../testkit/aws/local-aws.ts";
import { type MotoServer, startMotoServer } from "../../../testkit/aws/moto.ts";

const TABLE = "spacelift-role-vending-ledger";
const DAY = 86_400;
/** SQS keeps a message at most 14 days, in the queue and again in the dead-letter queue. */
const SQS_MAX_RETENTION_SECONDS = 14 * DAY;

let moto: MotoServer;
let dynamodb: DynamoDBClient;
let ledger: DynamoDbLedger;

beforeAll(async () => {
  moto = await startMotoServer();
  dynamodb = new DynamoDBClient(localClientConfig(moto.endpoint));
  ledger = new DynamoDbLedger(dynamodb, TABLE);
});

afterAll(async () => {
  dynamodb?.destroy();
  await moto?.stop();
});

beforeEach(async () => {
  await moto.reset();
  await createLedgerTable(dynamodb, TABLE);
});

describe("DynamoDbLedger", () => {
  it("keeps a deletion at its timestamp: a present entry of the same millisecond does not overwrite it", async () => {
    await ledger.record({ resource: "stack:a", timestamp: 100, state: "present" });
    await ledger.record({ resource: "stack:a", timestamp: 100, state: "deleted" });

    await ledger.record({ resource: "stack:a", timestamp: 100, state: "present" });

    expect(await ledger.get("stack:a")).toMatchObject({ timestamp: 100, state: "deleted" });
  });

  it("takes the same entry again at the same timestamp (a re-delivery), and a newer one", async () => {
    await ledger.record({ resource: "stack:a", timestamp: 100, state: "present" });
    await ledger.record({
      resource: "stack:a",
      timestamp: 100,
      state: "present",
      facts: { labels: { value: ["x"], timestamp: 100 } },
    });
    expect(await ledger.get("stack:a")).toMatchObject({
      state: "present",
      facts: { labels: { value: ["x"] } },
    });

    await ledger.record({ resource: "stack:a", timestamp: 100, state: "deleted" });
    await ledger.record({ resource: "stack:a", timestamp: 100, state: "deleted" });
    await ledger.record({ resource: "stack:a", timestamp: 101, state: "present" });
    expect(await ledger.get("stack:a")).toMatchObject({ timestamp: 101, state: "present" });
  });

  it("never moves backwards", async () => {
    await ledger.record({ resource: "stack:a", timestamp: 100, state: "deleted" });

    await ledger.record({ resource: "stack:a", timestamp: 99, state: "present" });
    await ledger.record({ resource: "stack:a", timestamp: 99, state: "deleted" });

    expect(await ledger.get("stack:a")).toMatchObject({ timestamp: 100, state: "deleted" });
  });

  it("keeps a tombstone longer than any event the receiver accepts can wait before it is applied", async () => {
    const before = Math.floor(Date.now() / 1000);
    await ledger.record({ resource: "stack:a", timestamp: 100, state: "deleted" });

    const { Item } = await dynamodb.send(
      new GetItemCommand({ TableName: TABLE, Key: { resource: { S: "stack:a" } } }),
    );

    const latestApplication =
      MAX_EVENT_MAX_AGE_SECONDS + SQS_MAX_RETENTION_SECONDS + SQS_MAX_RETENTION_SECONDS;
    expect(TOMBSTONE_RETENTION_SECONDS).toBeGreaterThan(latestApplication);
    expect(Number(Item?.expiresAt?.N)).toBeGreaterThanOrEqual(before + TOMBSTONE_RETENTION_SECONDS);
  });
});
