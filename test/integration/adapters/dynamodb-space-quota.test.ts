/**
 * The per-space count of stacks with roles (`spacequota:<spaceId>` items of the ledger table)
 * against a real moto_server: the conditional update admits at most `cap` stacks, also when
 * two provisioners admit at once through their own clients.
 */
import { DynamoDBClient, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DynamoDbSpaceQuota } from "../../../functions/adapters/dynamodb-space-quota.ts";
import { createLedgerTable, localClientConfig } from "../../../testkit/aws/local-aws.ts";
import { type MotoServer, startMotoServer } from "../../../testkit/aws/moto.ts";

const TABLE = "spacelift-role-vending-ledger";
const PROD = "production-01HND497T9JKR76MR3KA2CDJHP";

let moto: MotoServer;
let dynamodb: DynamoDBClient;

beforeAll(async () => {
  moto = await startMotoServer();
  dynamodb = new DynamoDBClient(localClientConfig(moto.endpoint));
});

afterAll(async () => {
  dynamodb?.destroy();
  await moto?.stop();
});

beforeEach(async () => {
  await moto.reset();
  await createLedgerTable(dynamodb, TABLE);
});

describe("DynamoDbSpaceQuota", () => {
  it("answers full, not an error, when a space's count item has reached DynamoDB's item size", async () => {
    // Attack: stack creators who choose 128-character stack IDs fill a space's count item up to
    // DynamoDB's 400 KB item limit below a large MAX_ROLES_PER_SPACE (up to 5,000); each later
    // admission failed with a ValidationException, retried until the dead-letter queue.
    const quota = new DynamoDbSpaceQuota(dynamodb, TABLE, () => 1_764_000_000_000);
    const longId = (index: number) => `${String(index).padStart(6, "0")}${"x".repeat(122)}`;
    let counted = 1300;
    await dynamodb.send(
      new PutItemCommand({
        TableName: TABLE,
        Item: {
          resource: { S: `spacequota:${PROD}` },
          stacks: {
            M: Object.fromEntries(
              Array.from({ length: counted }, (_, index) => [
                longId(index),
                { N: "1764000000000" },
              ]),
            ),
          },
        },
      }),
    );

    let answer: "admitted" | "full" = "admitted";
    while (answer === "admitted" && counted < 5000) {
      answer = await quota.admit(PROD, longId(counted), 5000);
      if (answer === "admitted") counted += 1;
    }
    const again = await quota.admit(PROD, longId(0), 5000);

    expect(answer).toBe("full");
    expect(counted).toBeLessThan(5000);
    expect((await quota.members(PROD)).size).toBe(counted);
    // A stack already counted is still admitted (its roles' updates go on).
    expect(again).toBe("admitted");
  });

  it("admits up to the cap, admits a counted stack again, and frees a place on release", async () => {
    let clock = 1_000;
    const quota = new DynamoDbSpaceQuota(dynamodb, TABLE, () => clock++);

    const admitted = [
      await quota.admit(PROD, "a", 2),
      await quota.admit(PROD, "b", 2),
      await quota.admit(PROD, "c", 2),
      await quota.admit(PROD, "a", 2),
    ];
    await quota.release(PROD, "b");
    await quota.release(PROD, "never-counted");
    const afterRelease = await quota.admit(PROD, "c", 2);

    expect(admitted).toEqual(["admitted", "admitted", "full", "admitted"]);
    expect(afterRelease).toBe("admitted");
    expect(await quota.members(PROD)).toEqual(
      new Map([
        ["a", 1_000],
        ["c", 1_004],
      ]),
    );
    const item = await dynamodb.send(
      new GetItemCommand({ TableName: TABLE, Key: { resource: { S: `spacequota:${PROD}` } } }),
    );
    expect(Object.keys(item.Item?.stacks?.M ?? {}).sort()).toEqual(["a", "c"]);
  });

  it("releases with admittedBefore only a stack counted before then; include ignores the cap", async () => {
    let clock = 1_000;
    const quota = new DynamoDbSpaceQuota(dynamodb, TABLE, () => clock);
    await quota.admit(PROD, "old", 1);
    clock = 5_000;
    await quota.include(PROD, "recent");

    await quota.release(PROD, "old", { admittedBefore: 2_000 });
    await quota.release(PROD, "recent", { admittedBefore: 2_000 });

    expect([...(await quota.members(PROD)).keys()]).toEqual(["recent"]);
    expect(await quota.members("empty-space")).toEqual(new Map());
  });

  it("never lets two provisioners with their own clients push a space over its cap", async () => {
    // The admission is one conditional UpdateItem, and DynamoDB applies a conditional write
    // atomically against concurrent writers (DynamoDB developer guide, "Condition expressions":
    // the write succeeds only if the condition holds at the time it is applied). moto does not
    // serialise concurrent requests to a table, so firing them at once here would test moto's
    // threading, not our condition: the two clients alternate, each seeing the other's writes.
    const other = new DynamoDBClient(localClientConfig(moto.endpoint));
    const first = new DynamoDbSpaceQuota(dynamodb, TABLE);
    const second = new DynamoDbSpaceQuota(other, TABLE);
    const stacks = Array.from({ length: 24 }, (_, index) => `stack-${index}`);

    const answers: string[] = [];
    for (const [index, stack] of stacks.entries()) {
      answers.push(await (index % 2 === 0 ? first : second).admit(PROD, stack, 5));
    }
    other.destroy();

    expect(answers.filter((answer) => answer === "admitted")).toHaveLength(5);
    expect((await first.members(PROD)).size).toBe(5);
  });
});
