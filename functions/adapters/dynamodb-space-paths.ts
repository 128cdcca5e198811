/**
 * SpacePathStore over DynamoDB: each space's name and parent, kept in the ledger table under
 * `spacepath:<spaceId>` (ledger items are `stack:…`/`space:…`, so the two never meet). The
 * conditional write keeps an older event from replacing a newer record.
 */
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import { AwsCallError } from "../core/errors.ts";
import { isSpaceId, type SpaceId } from "../core/identifiers.ts";
import type { SpaceNode, SpacePathStore } from "../core/ports.ts";

const KEY_PREFIX = "spacepath:";

export class DynamoDbSpacePaths implements SpacePathStore {
  constructor(
    private readonly dynamodb: DynamoDBClient,
    private readonly table: string,
  ) {}

  async get(spaceId: SpaceId): Promise<SpaceNode | undefined> {
    try {
      const { Item } = await this.dynamodb.send(
        new GetItemCommand({
          TableName: this.table,
          Key: { resource: { S: `${KEY_PREFIX}${spaceId}` } },
          // A space event just applied must be seen by the stack event that follows it.
          ConsistentRead: true,
        }),
      );
      if (Item === undefined) return undefined;
      const parent = Item.parent?.S;
      return {
        spaceId,
        name: Item.name?.S,
        parentSpaceId: isSpaceId(parent) ? parent : undefined,
      };
    } catch (error) {
      throw new AwsCallError(`DynamoDB GetItem failed for ${KEY_PREFIX}${spaceId}`, {
        cause: error,
      });
    }
  }

  async put(node: SpaceNode, timestamp: number): Promise<void> {
    try {
      await this.dynamodb.send(
        new PutItemCommand({
          TableName: this.table,
          Item: {
            resource: { S: `${KEY_PREFIX}${node.spaceId}` },
            timestamp: { N: String(timestamp) },
            ...(node.name === undefined ? {} : { name: { S: node.name } }),
            ...(node.parentSpaceId === undefined ? {} : { parent: { S: node.parentSpaceId } }),
          },
          ConditionExpression: "attribute_not_exists(#resource) OR #timestamp <= :timestamp",
          ExpressionAttributeNames: { "#resource": "resource", "#timestamp": "timestamp" },
          ExpressionAttributeValues: { ":timestamp": { N: String(timestamp) } },
        }),
      );
    } catch (error) {
      // A newer record is already there: ours must not replace it.
      if (error instanceof ConditionalCheckFailedException) return;
      throw new AwsCallError(`DynamoDB PutItem failed for ${KEY_PREFIX}${node.spaceId}`, {
        cause: error,
      });
    }
  }

  async remove(spaceId: SpaceId): Promise<void> {
    try {
      await this.dynamodb.send(
        new DeleteItemCommand({
          TableName: this.table,
          Key: { resource: { S: `${KEY_PREFIX}${spaceId}` } },
        }),
      );
    } catch (error) {
      throw new AwsCallError(`DynamoDB DeleteItem failed for ${KEY_PREFIX}${spaceId}`, {
        cause: error,
      });
    }
  }
}
