/**
 * The queue form of a webhook body (functions/core/queue-message.ts). Real SQS refuses a message
 * body with characters outside its allowed set (InvalidMessageContents); moto accepts them, so
 * the allowed set is checked here, in our own code.
 */
import { describe, expect, it } from "vitest";
import {
  decodeQueueMessage,
  encodeQueueMessage,
  isSqsMessageText,
} from "../../../functions/core/queue-message.ts";
import { fixtureBody } from "../../../testkit/spacelift/fixtures.ts";

/** Characters SQS refuses, each as a Spacelift stack description could carry it. */
const REFUSED = ["\u0000", "\u0001", "\u0008", "\u000B", "\u001F", "\uFFFE", "\uFFFF"];

/**
 * A real-shaped stack.create whose description carries `description` as it is, unescaped (a
 * JSON encoder escapes control characters, but not U+FFFE or U+FFFF).
 */
const stackCreateWith = (description: string) =>
  fixtureBody("stack.create").replace('"Description": ""', `"Description": "${description}"`);

describe("isSqsMessageText: SQS's allowed characters", () => {
  it("accepts tab, newlines, the BMP outside surrogates and U+FFFE/FFFF, and astral characters", () => {
    expect(isSqsMessageText("\t\n\r abc \u00e9 \uD7FF \uE000 \uFFFD 😀 \u{10FFFF}")).toBe(true);
  });

  it.each(REFUSED.map((character) => [character.codePointAt(0)?.toString(16), character]))(
    "refuses U+%s",
    (_code, character) => {
      expect(isSqsMessageText(`a${character}b`)).toBe(false);
    },
  );

  it("refuses a lone surrogate", () => {
    expect(isSqsMessageText("a\uD800b")).toBe(false);
  });
});

describe("encodeQueueMessage / decodeQueueMessage", () => {
  it.each(REFUSED.map((character) => [character.codePointAt(0)?.toString(16), character]))(
    "turns an event whose description has U+%s into a message SQS accepts, and back",
    (_code, character) => {
      const body = stackCreateWith(`build ${character} bot 😀`);
      expect(isSqsMessageText(body)).toBe(false);

      const message = encodeQueueMessage(body);

      expect(isSqsMessageText(message)).toBe(true);
      expect(JSON.parse(message)).toMatchObject({ v: 2 });
      expect(decodeQueueMessage(message)).toBe(body);
    },
  );

  it("still reads a message of the old form (the raw body), in flight during a deploy", () => {
    const body = fixtureBody("stack.create");

    expect(decodeQueueMessage(body)).toBe(body);
  });

  it("leaves anything that is not an envelope to the event parser", () => {
    expect(decodeQueueMessage("not json")).toBe("not json");
    expect(decodeQueueMessage('{"v":2,"body":"not base64!"}')).toBe('{"v":2,"body":"not base64!"}');
    expect(decodeQueueMessage('{"v":3,"body":"e30="}')).toBe('{"v":3,"body":"e30="}');
    expect(decodeQueueMessage('{"v":2,"body":"e30=","x":1}')).toBe('{"v":2,"body":"e30=","x":1}');
  });
});
