import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import {
  AddTagsToResourceCommand,
  DeleteParameterCommand,
  GetParameterCommand,
  InvalidResourceId,
  ListTagsForResourceCommand,
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  RemoveTagsFromResourceCommand,
  SSMClient,
  TooManyUpdates,
} from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { DynamoDbLedger } from "../../../functions/adapters/dynamodb-ledger.ts";
import { SqsEventQueue } from "../../../functions/adapters/sqs-event-queue.ts";
import { SsmParameterStore } from "../../../functions/adapters/ssm-parameter-store.ts";
import { AwsCallError, ForeignResourceError } from "../../../functions/core/errors.ts";
import { decodeQueueMessage, isSqsMessageText } from "../../../functions/core/queue-message.ts";

const meta = { $metadata: {} };
const ssmMock = mockClient(SSMClient);
const sqsMock = mockClient(SQSClient);
const dynamoMock = mockClient(DynamoDBClient);
const parameters = new SsmParameterStore(new SSMClient({ region: "us-east-1" }));
const tags = { "managed-by": "spacelift-role-vending" };

beforeEach(() => {
  ssmMock.reset();
  sqsMock.reset();
  dynamoMock.reset();
});

describe("SsmParameterStore.publish", () => {
  it("creates a fresh parameter with its tags in one call", async () => {
    ssmMock.on(PutParameterCommand).resolves({ Version: 1 });
    expect(await parameters.publish("/p", "arn:1", tags, { fresh: true })).toBe("created");
    expect(ssmMock.calls()).toHaveLength(1);
    expect(ssmMock.commandCalls(PutParameterCommand)[0]?.args[0].input).toEqual({
      Name: "/p",
      Value: "arn:1",
      Type: "String",
      Overwrite: false,
      Tags: [{ Key: "managed-by", Value: "spacelift-role-vending" }],
    });
  });

  it("makes no write call when the parameter already holds the value and tags", async () => {
    ssmMock.on(GetParameterCommand).resolves({ Parameter: { Value: "arn:1" } });
    ssmMock
      .on(ListTagsForResourceCommand)
      .resolves({ TagList: [{ Key: "managed-by", Value: "spacelift-role-vending" }] });
    expect(await parameters.publish("/p", "arn:1", tags)).toBe("unchanged");
    expect(ssmMock.commandCalls(PutParameterCommand)).toHaveLength(0);
    expect(ssmMock.commandCalls(AddTagsToResourceCommand)).toHaveLength(0);
    expect(ssmMock.commandCalls(RemoveTagsFromResourceCommand)).toHaveLength(0);
  });

  it("removes our own tags the role no longer has, and only those", async () => {
    ssmMock.on(GetParameterCommand).resolves({ Parameter: { Value: "arn:1" } });
    ssmMock.on(ListTagsForResourceCommand).resolves({
      TagList: [
        { Key: "managed-by", Value: "spacelift-role-vending" },
        { Key: "spacelift:stack", Value: "payments-api" },
        { Key: "spacelift:scope", Value: "write" },
        { Key: "spacelift:labels", Value: ":team-a:" },
        { Key: "team", Value: "payments" },
        { Key: "scope", Value: "write" },
      ],
    });
    ssmMock.on(RemoveTagsFromResourceCommand).resolves({});
    expect(
      await parameters.publish("/p", "arn:1", { ...tags, "spacelift:stack": "payments-api" }),
    ).toBe("updated");
    expect(ssmMock.commandCalls(RemoveTagsFromResourceCommand)).toHaveLength(1);
    expect(ssmMock.commandCalls(RemoveTagsFromResourceCommand)[0]?.args[0].input).toEqual({
      ResourceType: "Parameter",
      ResourceId: "/p",
      TagKeys: ["spacelift:labels", "spacelift:scope"],
    });
    expect(ssmMock.commandCalls(PutParameterCommand)).toHaveLength(0);
    expect(ssmMock.commandCalls(AddTagsToResourceCommand)).toHaveLength(0);
  });

  it("adds what differs, then removes what is stale, overwriting a changed value first", async () => {
    ssmMock.on(GetParameterCommand).resolves({ Parameter: { Value: "arn:write" } });
    ssmMock.on(ListTagsForResourceCommand).resolves({
      TagList: [
        { Key: "managed-by", Value: "spacelift-role-vending" },
        { Key: "spacelift:space", Value: "production" },
        { Key: "spacelift:scope", Value: "write" },
      ],
    });
    expect(await parameters.publish("/p", "arn:1", { ...tags, "spacelift:space": "staging" })).toBe(
      "updated",
    );
    expect(ssmMock.calls().map((call) => call.args[0].constructor.name)).toEqual([
      "GetParameterCommand",
      "ListTagsForResourceCommand",
      "PutParameterCommand",
      "AddTagsToResourceCommand",
      "RemoveTagsFromResourceCommand",
    ]);
    expect(ssmMock.commandCalls(AddTagsToResourceCommand)[0]?.args[0].input.Tags).toEqual([
      { Key: "spacelift:space", Value: "staging" },
    ]);
    expect(ssmMock.commandCalls(RemoveTagsFromResourceCommand)[0]?.args[0].input.TagKeys).toEqual([
      "spacelift:scope",
    ]);
  });

  it("never removes tags it does not own, and writes nothing when only those differ", async () => {
    ssmMock.on(GetParameterCommand).resolves({ Parameter: { Value: "arn:1" } });
    ssmMock.on(ListTagsForResourceCommand).resolves({
      TagList: [
        { Key: "managed-by", Value: "spacelift-role-vending" },
        { Key: "team", Value: "payments" },
        { Key: "owner", Value: "platform" },
      ],
    });
    expect(await parameters.publish("/p", "arn:1", tags)).toBe("unchanged");
    expect(ssmMock.commandCalls(RemoveTagsFromResourceCommand)).toHaveLength(0);
    expect(ssmMock.commandCalls(AddTagsToResourceCommand)).toHaveLength(0);
    expect(ssmMock.commandCalls(PutParameterCommand)).toHaveLength(0);
  });

  it("reports a failed tag removal as an AWS call failure, with SSM's error as the cause", async () => {
    ssmMock.on(GetParameterCommand).resolves({ Parameter: { Value: "arn:1" } });
    ssmMock.on(ListTagsForResourceCommand).resolves({
      TagList: [
        { Key: "managed-by", Value: "spacelift-role-vending" },
        { Key: "spacelift:scope", Value: "write" },
      ],
    });
    const throttled = new TooManyUpdates({ message: "slow down", ...meta });
    ssmMock.on(RemoveTagsFromResourceCommand).rejects(throttled);
    const failure = await parameters.publish("/p", "arn:1", tags).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AwsCallError);
    expect((failure as AwsCallError).cause).toBe(throttled);
  });

  it("overwrites a stale value without tags (SSM refuses both), then adds missing tags", async () => {
    ssmMock.on(GetParameterCommand).resolves({ Parameter: { Value: "arn:old" } });
    ssmMock
      .on(ListTagsForResourceCommand)
      .resolves({ TagList: [{ Key: "managed-by", Value: "spacelift-role-vending" }] });
    expect(
      await parameters.publish("/p", "arn:1", { ...tags, "spacelift:stack": "payments-api" }),
    ).toBe("updated");
    expect(ssmMock.commandCalls(PutParameterCommand)[0]?.args[0].input).toEqual({
      Name: "/p",
      Value: "arn:1",
      Type: "String",
      Overwrite: true,
    });
    expect(ssmMock.commandCalls(AddTagsToResourceCommand)[0]?.args[0].input.Tags).toEqual([
      { Key: "spacelift:stack", Value: "payments-api" },
    ]);
  });

  it("refuses to overwrite a parameter without our managed-by tag", async () => {
    ssmMock.on(GetParameterCommand).resolves({ Parameter: { Value: "arn:hand-made" } });
    ssmMock.on(ListTagsForResourceCommand).resolves({ TagList: [] });
    await expect(parameters.publish("/p", "arn:1", tags)).rejects.toThrow(ForeignResourceError);
    expect(ssmMock.commandCalls(PutParameterCommand)).toHaveLength(0);
    expect(ssmMock.commandCalls(AddTagsToResourceCommand)).toHaveLength(0);
    expect(ssmMock.commandCalls(RemoveTagsFromResourceCommand)).toHaveLength(0);
  });

  it("leaves the tags of someone else's parameter alone, even ones that look like ours", async () => {
    ssmMock.on(GetParameterCommand).resolves({ Parameter: { Value: "arn:hand-made" } });
    ssmMock.on(ListTagsForResourceCommand).resolves({
      TagList: [
        { Key: "managed-by", Value: "terraform" },
        { Key: "spacelift:scope", Value: "write" },
      ],
    });
    await expect(parameters.publish("/p", "arn:1", tags)).rejects.toThrow(ForeignResourceError);
    expect(ssmMock.commandCalls(RemoveTagsFromResourceCommand)).toHaveLength(0);
  });

  it("falls back to read-and-compare when a 'fresh' parameter already exists", async () => {
    ssmMock
      .on(PutParameterCommand)
      .rejectsOnce(new ParameterAlreadyExists({ message: "x", ...meta }));
    ssmMock.on(GetParameterCommand).resolves({ Parameter: { Value: "arn:1" } });
    ssmMock
      .on(ListTagsForResourceCommand)
      .resolves({ TagList: [{ Key: "managed-by", Value: "spacelift-role-vending" }] });
    expect(await parameters.publish("/p", "arn:1", tags, { fresh: true })).toBe("unchanged");
  });

  it("creates the parameter when reading finds none", async () => {
    ssmMock.on(GetParameterCommand).rejects(new ParameterNotFound({ message: "x", ...meta }));
    ssmMock.on(PutParameterCommand).resolves({ Version: 1 });
    expect(await parameters.publish("/p", "arn:1", tags)).toBe("created");
  });

  it("does not read again a value the caller already read, and still checks whose it is", async () => {
    ssmMock
      .on(ListTagsForResourceCommand)
      .resolves({ TagList: [{ Key: "managed-by", Value: "spacelift-role-vending" }] });
    expect(await parameters.publish("/p", "arn:1", tags, { current: "arn:1" })).toBe("unchanged");
    expect(ssmMock.commandCalls(GetParameterCommand)).toHaveLength(0);
    expect(ssmMock.commandCalls(ListTagsForResourceCommand)).toHaveLength(1);
    expect(ssmMock.commandCalls(PutParameterCommand)).toHaveLength(0);
  });

  it("overwrites the value the caller read when it is stale, without reading it", async () => {
    ssmMock
      .on(ListTagsForResourceCommand)
      .resolves({ TagList: [{ Key: "managed-by", Value: "spacelift-role-vending" }] });
    expect(await parameters.publish("/p", "arn:1", tags, { current: "arn:old" })).toBe("updated");
    expect(ssmMock.commandCalls(GetParameterCommand)).toHaveLength(0);
    expect(ssmMock.commandCalls(PutParameterCommand)[0]?.args[0].input).toMatchObject({
      Value: "arn:1",
      Overwrite: true,
    });
  });

  it("refuses a parameter whose value the caller read but that is not ours", async () => {
    ssmMock.on(ListTagsForResourceCommand).resolves({ TagList: [] });
    await expect(
      parameters.publish("/p", "arn:1", tags, { current: "arn:hand-made" }),
    ).rejects.toThrow(ForeignResourceError);
    expect(ssmMock.commandCalls(PutParameterCommand)).toHaveLength(0);
  });

  it("reads afresh and creates a parameter deleted since the caller read its value", async () => {
    ssmMock
      .on(ListTagsForResourceCommand)
      .rejects(new InvalidResourceId({ message: "Invalid Resource Id", ...meta }));
    ssmMock.on(GetParameterCommand).rejects(new ParameterNotFound({ message: "x", ...meta }));
    ssmMock.on(PutParameterCommand).resolves({ Version: 1 });
    expect(await parameters.publish("/p", "arn:1", tags, { current: "arn:1" })).toBe("created");
    expect(ssmMock.commandCalls(GetParameterCommand)).toHaveLength(1);
    expect(ssmMock.commandCalls(PutParameterCommand)[0]?.args[0].input).toMatchObject({
      Overwrite: false,
    });
  });

  it("reports a parameter already gone as absent", async () => {
    // SSM answers InvalidResourceId for the tags of a parameter that does not exist.
    ssmMock
      .on(ListTagsForResourceCommand)
      .rejects(new InvalidResourceId({ message: "Invalid Resource Id", ...meta }));
    ssmMock.on(DeleteParameterCommand).rejects(new ParameterNotFound({ message: "x", ...meta }));
    expect(await parameters.remove("/p")).toBe("absent");
  });

  it("refuses to delete a parameter without our managed-by tag", async () => {
    ssmMock.on(ListTagsForResourceCommand).resolves({ TagList: [] });
    await expect(parameters.remove("/p")).rejects.toThrow(ForeignResourceError);
    expect(ssmMock.commandCalls(DeleteParameterCommand)).toHaveLength(0);
  });
});

describe("SqsEventQueue", () => {
  it("sends to the FIFO queue with the resource's group and the dedup id", async () => {
    sqsMock.on(SendMessageCommand).resolves({ MessageId: "m" });
    await new SqsEventQueue(new SQSClient({ region: "us-east-1" }), "https://q/1/x.fifo").enqueue({
      body: "{}",
      group: "stack:a",
      deduplicationId: "d",
    });
    expect(sqsMock.commandCalls(SendMessageCommand)[0]?.args[0].input).toEqual({
      QueueUrl: "https://q/1/x.fifo",
      MessageBody: JSON.stringify({ v: 2, body: Buffer.from("{}").toString("base64") }),
      MessageGroupId: "stack:a",
      MessageDeduplicationId: "d",
    });
  });

  it("sends a body with characters SQS refuses as a message SQS accepts, which decodes to it", async () => {
    sqsMock.on(SendMessageCommand).resolves({ MessageId: "m" });
    const body = JSON.stringify({
      description: "bell\u0001 nonchar\uFFFE\uFFFF nul\u0000 emoji 😀",
    });
    expect(isSqsMessageText(body)).toBe(false);

    await new SqsEventQueue(new SQSClient({ region: "us-east-1" }), "https://q/1/x.fifo").enqueue({
      body,
      group: "stack:a",
      deduplicationId: "sha256-of-the-raw-body",
    });

    const sent = sqsMock.commandCalls(SendMessageCommand)[0]?.args[0].input;
    expect(isSqsMessageText(sent?.MessageBody ?? "\u0000")).toBe(true);
    expect(decodeQueueMessage(sent?.MessageBody ?? "")).toBe(body);
    expect(sent?.MessageDeduplicationId).toBe("sha256-of-the-raw-body");
  });
});

describe("DynamoDbLedger.record", () => {
  it("writes conditionally so a resource's timestamp never moves backwards, nor a deletion is undone at its timestamp", async () => {
    dynamoMock.on(PutItemCommand).resolves({});
    const ledger = new DynamoDbLedger(new DynamoDBClient({ region: "us-east-1" }), "t");
    await ledger.record({ resource: "stack:a", timestamp: 5, state: "present" });
    await ledger.record({ resource: "stack:a", timestamp: 6, state: "deleted" });
    const [present, deleted] = dynamoMock.commandCalls(PutItemCommand);
    expect(present?.args[0].input.ConditionExpression).toBe(
      "attribute_not_exists(#resource) OR #timestamp < :timestamp OR (#timestamp = :timestamp AND #state = :present)",
    );
    expect(deleted?.args[0].input.ConditionExpression).toBe(
      "attribute_not_exists(#resource) OR #timestamp <= :timestamp",
    );
  });

  it("keeps the shape of a stack's roles that the entry vouches for, and reads it back", async () => {
    dynamoMock.on(PutItemCommand).resolves({});
    const ledger = new DynamoDbLedger(new DynamoDBClient({ region: "us-east-1" }), "t");
    await ledger.record({ resource: "stack:a", timestamp: 5, state: "present", shape: "split" });
    await ledger.record({ resource: "stack:b", timestamp: 5, state: "present" });
    const [vouched, unknown] = dynamoMock.commandCalls(PutItemCommand);
    expect(vouched?.args[0].input.Item?.shape).toEqual({ S: "split" });
    expect(unknown?.args[0].input.Item).not.toHaveProperty("shape");

    const item = { resource: { S: "stack:a" }, timestamp: { N: "5" }, state: { S: "present" } };
    dynamoMock
      .on(GetItemCommand)
      .resolvesOnce({ Item: { ...item, shape: { S: "unsplit" } } })
      .resolvesOnce({ Item: { ...item, shape: { S: "triangular" } } });
    expect(await ledger.get("stack:a")).toMatchObject({ shape: "unsplit" });
    // What this version cannot read vouches for nothing.
    expect(await ledger.get("stack:a")).not.toHaveProperty("shape");
  });

  it("keeps the naming scheme a shape was vouched under, and reads it back", async () => {
    dynamoMock.on(PutItemCommand).resolves({});
    const ledger = new DynamoDbLedger(new DynamoDBClient({ region: "us-east-1" }), "t");
    await ledger.record({
      resource: "stack:a",
      timestamp: 5,
      state: "present",
      shape: "split",
      naming: 2,
    });
    expect(dynamoMock.commandCalls(PutItemCommand)[0]?.args[0].input.Item?.naming).toEqual({
      N: "2",
    });

    const item = { resource: { S: "stack:a" }, timestamp: { N: "5" }, state: { S: "present" } };
    dynamoMock
      .on(GetItemCommand)
      .resolvesOnce({ Item: { ...item, shape: { S: "split" }, naming: { N: "2" } } })
      .resolvesOnce({ Item: { ...item, shape: { S: "split" } } });
    expect(await ledger.get("stack:a")).toMatchObject({ shape: "split", naming: 2 });
    // Written by the version before the naming scheme was recorded.
    expect(await ledger.get("stack:a")).not.toHaveProperty("naming");
  });

  it("accepts losing the race to a newer event", async () => {
    dynamoMock
      .on(PutItemCommand)
      .rejects(new ConditionalCheckFailedException({ message: "newer", ...meta }));
    const ledger = new DynamoDbLedger(new DynamoDBClient({ region: "us-east-1" }), "t");
    await expect(
      ledger.record({ resource: "stack:a", timestamp: 1, state: "deleted" }),
    ).resolves.toBeUndefined();
  });
});
