/**
 * ResourceLedger over DynamoDB: the last Spacelift timestamp applied to each stack or space.
 * The conditional write keeps a resource's timestamp from ever moving backwards, even if two
 * writers race. Tombstones of deleted resources expire after a retention period (TTL).
 */
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import * as z from "zod/mini";
import type { LedgerEntry, ResourceLedger, StackFactsRecord } from "../core/ports.ts";
import "../core/zod-locale.ts";
import { AwsCallError } from "../core/errors.ts";

/**
 * How long a deleted resource's tombstone (its last timestamp) is kept. It must outlive every
 * event that can still be applied: the receiver refuses events older than its replay window
 * (at most MAX_EVENT_MAX_AGE_SECONDS, 7 days), and an accepted one may then wait in the queue
 * and the dead-letter queue (14 days each at most) before it is applied or redriven. A
 * tombstone that expired earlier would let such a late `stack.create` re-create the role.
 */
export const TOMBSTONE_RETENTION_SECONDS = 400 * 86_400;

export class DynamoDbLedger implements ResourceLedger {
  constructor(
    private readonly dynamodb: DynamoDBClient,
    private readonly table: string,
  ) {}

  async get(resource: string): Promise<LedgerEntry | undefined> {
    try {
      const { Item } = await this.dynamodb.send(
        new GetItemCommand({
          TableName: this.table,
          Key: { resource: { S: resource } },
          ConsistentRead: true,
        }),
      );
      if (Item?.timestamp?.N === undefined) return undefined;
      const facts = Item.facts?.S === undefined ? undefined : parseFacts(Item.facts.S);
      const shape = Item.shape?.S;
      const naming = Item.naming?.N === undefined ? undefined : Number(Item.naming.N);
      const account = Item.account?.S;
      const formerAccounts = Item.formerAccounts?.SS;
      return {
        resource,
        timestamp: Number(Item.timestamp.N),
        state: Item.state?.S === "deleted" ? "deleted" : "present",
        ...(facts && { facts }),
        // Anything else (written by a later version?) counts as not known.
        ...((shape === "unsplit" || shape === "split") && { shape }),
        ...(naming !== undefined && Number.isInteger(naming) && { naming }),
        ...(account !== undefined && { account }),
        ...(formerAccounts !== undefined && { formerAccounts: [...formerAccounts].sort() }),
      };
    } catch (error) {
      throw new AwsCallError(`DynamoDB GetItem failed for ${resource}`, { cause: error });
    }
  }

  async record(entry: LedgerEntry): Promise<void> {
    const expiresAt =
      entry.state === "deleted"
        ? { expiresAt: { N: String(Math.floor(Date.now() / 1000) + TOMBSTONE_RETENTION_SECONDS) } }
        : {};
    // Never backwards; and at an equal timestamp a resource deleted at that millisecond is not
    // made present again (the provisioner's tie rule, enforced here against racing writers).
    const condition =
      entry.state === "deleted"
        ? "attribute_not_exists(#resource) OR #timestamp <= :timestamp"
        : "attribute_not_exists(#resource) OR #timestamp < :timestamp OR (#timestamp = :timestamp AND #state = :present)";
    try {
      await this.dynamodb.send(
        new PutItemCommand({
          TableName: this.table,
          Item: {
            resource: { S: entry.resource },
            timestamp: { N: String(entry.timestamp) },
            state: { S: entry.state },
            ...(entry.facts && { facts: { S: JSON.stringify(entry.facts) } }),
            ...(entry.shape && { shape: { S: entry.shape } }),
            ...(entry.naming !== undefined && { naming: { N: String(entry.naming) } }),
            ...(entry.account !== undefined && { account: { S: entry.account } }),
            // A string set cannot be empty: no former accounts, no attribute.
            ...(entry.formerAccounts !== undefined &&
              entry.formerAccounts.length > 0 && {
                formerAccounts: { SS: [...entry.formerAccounts] },
              }),
            ...expiresAt,
          },
          ConditionExpression: condition,
          ExpressionAttributeNames: {
            "#resource": "resource",
            "#timestamp": "timestamp",
            ...(entry.state === "present" && { "#state": "state" }),
          },
          ExpressionAttributeValues: {
            ":timestamp": { N: String(entry.timestamp) },
            ...(entry.state === "present" && { ":present": { S: "present" } }),
          },
        }),
      );
    } catch (error) {
      // A newer event is already recorded: ours must not overwrite it.
      if (error instanceof ConditionalCheckFailedException) return;
      throw new AwsCallError(`DynamoDB PutItem failed for ${entry.resource}`, { cause: error });
    }
  }
}

const TimedFacts = z.object({
  spaceId: z.optional(z.object({ value: z.string(), timestamp: z.number() })),
  labels: z.optional(z.object({ value: z.array(z.string()), timestamp: z.number() })),
});

/** Facts written by this adapter; anything unreadable counts as not known. */
function parseFacts(json: string): StackFactsRecord | undefined {
  try {
    const parsed = TimedFacts.safeParse(JSON.parse(json));
    if (!parsed.success) return undefined;
    const { spaceId, labels } = parsed.data;
    return { ...(spaceId && { spaceId }), ...(labels && { labels }) };
  } catch {
    return undefined;
  }
}
