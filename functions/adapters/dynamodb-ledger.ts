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
import type { LedgerEntry, ResourceLedger } from "../core/ports.ts";
import { AwsCallError } from "./iam-role-store.ts";

const TOMBSTONE_DAYS = 400;

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
      return {
        resource,
        timestamp: Number(Item.timestamp.N),
        state: Item.state?.S === "deleted" ? "deleted" : "present",
      };
    } catch (error) {
      throw new AwsCallError(`DynamoDB GetItem failed for ${resource}`, { cause: error });
    }
  }

  async record(entry: LedgerEntry): Promise<void> {
    const expiresAt =
      entry.state === "deleted"
        ? { expiresAt: { N: String(Math.floor(Date.now() / 1000) + TOMBSTONE_DAYS * 86400) } }
        : {};
    try {
      await this.dynamodb.send(
        new PutItemCommand({
          TableName: this.table,
          Item: {
            resource: { S: entry.resource },
            timestamp: { N: String(entry.timestamp) },
            state: { S: entry.state },
            ...expiresAt,
          },
          ConditionExpression: "attribute_not_exists(#resource) OR #timestamp <= :timestamp",
          ExpressionAttributeNames: { "#resource": "resource", "#timestamp": "timestamp" },
          ExpressionAttributeValues: { ":timestamp": { N: String(entry.timestamp) } },
        }),
      );
    } catch (error) {
      // A newer event is already recorded: ours must not overwrite it.
      if (error instanceof ConditionalCheckFailedException) return;
      throw new AwsCallError(`DynamoDB PutItem failed for ${entry.resource}`, { cause: error });
    }
  }
}
