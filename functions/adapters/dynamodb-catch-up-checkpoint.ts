/**
 * CatchUpCheckpoint over the ledger table: one item whose key (`checkpoint:audit-trail`) can
 * never be a resource key (those are `stack:<id>` and `space:<id>`), holding the time of the
 * newest audit entry the catch-up has handled. The write is conditional, so two overlapping
 * runs cannot move it backwards.
 */
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import { AwsCallError } from "../core/errors.ts";
import type { CatchUpCheckpoint } from "../core/ports.ts";

export const CATCH_UP_CHECKPOINT_KEY = "checkpoint:audit-trail";

export class DynamoDbCatchUpCheckpoint implements CatchUpCheckpoint {
  constructor(
    private readonly dynamodb: DynamoDBClient,
    private readonly table: string,
  ) {}

  async read(): Promise<number | undefined> {
    try {
      const { Item } = await this.dynamodb.send(
        new GetItemCommand({
          TableName: this.table,
          Key: { resource: { S: CATCH_UP_CHECKPOINT_KEY } },
          ConsistentRead: true,
        }),
      );
      const value = Item?.checkpointAt?.N === undefined ? undefined : Number(Item.checkpointAt.N);
      return value !== undefined && Number.isSafeInteger(value) ? value : undefined;
    } catch (error) {
      throw new AwsCallError(`DynamoDB GetItem failed for ${CATCH_UP_CHECKPOINT_KEY}`, {
        cause: error,
      });
    }
  }

  async advance(to: number, replacing?: number): Promise<void> {
    try {
      await this.dynamodb.send(
        new PutItemCommand({
          TableName: this.table,
          Item: {
            resource: { S: CATCH_UP_CHECKPOINT_KEY },
            checkpointAt: { N: String(to) },
          },
          ...(replacing === undefined
            ? {
                ConditionExpression: "attribute_not_exists(#resource) OR #at < :at",
                ExpressionAttributeValues: { ":at": { N: String(to) } },
              }
            : {
                // A checkpoint found in the future: replaced only if no one changed it since.
                ConditionExpression: "#at = :replacing",
                ExpressionAttributeValues: { ":replacing": { N: String(replacing) } },
              }),
          ExpressionAttributeNames:
            replacing === undefined
              ? { "#resource": "resource", "#at": "checkpointAt" }
              : { "#at": "checkpointAt" },
        }),
      );
    } catch (error) {
      // Another run already moved it at least as far: that is the outcome wanted.
      if (error instanceof ConditionalCheckFailedException) return;
      throw new AwsCallError(`DynamoDB PutItem failed for ${CATCH_UP_CHECKPOINT_KEY}`, {
        cause: error,
      });
    }
  }
}
