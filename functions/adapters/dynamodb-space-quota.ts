/**
 * SpaceQuota over DynamoDB: one item per space in the ledger table, `spacequota:<spaceId>`
 * (ledger items are `stack:…`/`space:…`, space paths `spacepath:…`), whose map `stacks` holds
 * each counted stack ID with when it was first counted. Admission is one conditional update
 * (`size(stacks) < cap OR the stack is already there`), so concurrent provisioners cannot
 * push a space over its cap.
 */
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { AwsCallError } from "../core/errors.ts";
import type { SpaceQuota } from "../core/ports.ts";

const KEY_PREFIX = "spacequota:";

export class DynamoDbSpaceQuota implements SpaceQuota {
  constructor(
    private readonly dynamodb: DynamoDBClient,
    private readonly table: string,
    private readonly now: () => number = Date.now,
  ) {}

  async admit(spaceId: string, stackId: string, cap: number): Promise<"admitted" | "full"> {
    try {
      await this.ensureMap(spaceId);
      await this.send("UpdateItem", spaceId, {
        UpdateExpression: "SET #stacks.#stack = if_not_exists(#stacks.#stack, :now)",
        ConditionExpression: "size(#stacks) < :cap OR attribute_exists(#stacks.#stack)",
        ExpressionAttributeNames: { "#stacks": "stacks", "#stack": stackId },
        ExpressionAttributeValues: {
          ":now": { N: String(this.now()) },
          ":cap": { N: String(cap) },
        },
      });
      return "admitted";
    } catch (error) {
      if (error instanceof AwsCallError && error.cause instanceof ConditionalCheckFailedException) {
        return "full";
      }
      // The space's item holds as many stack IDs as fit in DynamoDB's 400 KB item
      // (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-items):
      // with long IDs chosen by stack creators, fewer than a large cap. Retrying cannot make
      // the item smaller: the space is full, except for a stack it already counts.
      if (error instanceof AwsCallError && isItemTooLarge(error.cause)) {
        return (await this.members(spaceId)).has(stackId) ? "admitted" : "full";
      }
      throw error;
    }
  }

  async include(spaceId: string, stackId: string): Promise<void> {
    await this.ensureMap(spaceId);
    await this.send("UpdateItem", spaceId, {
      UpdateExpression: "SET #stacks.#stack = if_not_exists(#stacks.#stack, :now)",
      ExpressionAttributeNames: { "#stacks": "stacks", "#stack": stackId },
      ExpressionAttributeValues: { ":now": { N: String(this.now()) } },
    });
  }

  async release(
    spaceId: string,
    stackId: string,
    options: { admittedBefore?: number } = {},
  ): Promise<void> {
    const before = options.admittedBefore;
    try {
      await this.send("UpdateItem", spaceId, {
        UpdateExpression: "REMOVE #stacks.#stack",
        // Without the map there is nothing to remove (and REMOVE would not find the path).
        ConditionExpression:
          before === undefined
            ? "attribute_exists(#stacks.#stack)"
            : "attribute_exists(#stacks.#stack) AND #stacks.#stack < :before",
        ExpressionAttributeNames: { "#stacks": "stacks", "#stack": stackId },
        ...(before !== undefined && {
          ExpressionAttributeValues: { ":before": { N: String(before) } },
        }),
      });
    } catch (error) {
      // Not counted, or counted again since: nothing of ours to remove.
      if (error instanceof AwsCallError && error.cause instanceof ConditionalCheckFailedException) {
        return;
      }
      throw error;
    }
  }

  async members(spaceId: string): Promise<ReadonlyMap<string, number>> {
    try {
      const { Item } = await this.dynamodb.send(
        new GetItemCommand({
          TableName: this.table,
          Key: { resource: { S: `${KEY_PREFIX}${spaceId}` } },
          ConsistentRead: true,
        }),
      );
      return new Map(
        Object.entries(Item?.stacks?.M ?? {}).map(([stackId, value]) => [
          stackId,
          Number(value.N ?? 0),
        ]),
      );
    } catch (error) {
      throw new AwsCallError(`DynamoDB GetItem failed for ${KEY_PREFIX}${spaceId}`, {
        cause: error,
      });
    }
  }

  /** A nested path can only be set inside an existing map: create the space's empty map first. */
  private async ensureMap(spaceId: string): Promise<void> {
    await this.send("UpdateItem", spaceId, {
      UpdateExpression: "SET #stacks = if_not_exists(#stacks, :empty)",
      ExpressionAttributeNames: { "#stacks": "stacks" },
      ExpressionAttributeValues: { ":empty": { M: {} } },
    });
  }

  private async send(
    operation: string,
    spaceId: string,
    input: Omit<ConstructorParameters<typeof UpdateItemCommand>[0], "TableName" | "Key">,
  ): Promise<void> {
    try {
      await this.dynamodb.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: { resource: { S: `${KEY_PREFIX}${spaceId}` } },
          ...input,
        }),
      );
    } catch (error) {
      throw new AwsCallError(`DynamoDB ${operation} failed for ${KEY_PREFIX}${spaceId}`, {
        cause: error,
      });
    }
  }
}

/** DynamoDB's answer to an update that would make the item larger than 400 KB. */
function isItemTooLarge(error: unknown): boolean {
  return (
    error instanceof Error &&
    error.name === "ValidationException" &&
    /item size .*exceeded the maximum allowed size/i.test(error.message)
  );
}
