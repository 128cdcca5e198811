import { describe, expect, it } from "vitest";
import { loadVendingConfig } from "../../../functions/core/config.ts";
import {
  ConfigurationError,
  PolicyRenderError,
  SpacePathUnknownError,
} from "../../../functions/core/errors.ts";
import type { SpaceId } from "../../../functions/core/identifiers.ts";
import { recordSpace } from "../../../functions/core/space-path.ts";
import {
  assertSubjectPattern,
  DEFAULT_SUBJECT_TEMPLATE,
  renderSubjectPattern,
  resolveSpacePath,
  STACK_TAG_VARIABLE,
  validateSubjectTemplate,
} from "../../../functions/core/subject.ts";
import { InMemorySpacePaths } from "../../../testkit/fakes/in-memory-space-paths.ts";
import { SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const id = (value: string) => value as SpaceId;
// biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, not a JS template
const USERNAME_VARIABLE = "${aws:username}";
const PROD = id("production-01HND497T9JKR76MR3KA2CDJHP");
const PROD_US = id("us-east-1-01HQ1234567890ABCDEFGHJKMN");

describe("validateSubjectTemplate", () => {
  it.each([
    DEFAULT_SUBJECT_TEMPLATE,
    "space:{spaceId}:space_path:{spacePath}:{callerType}:{callerId}:run_type:{runType}:scope:{scope}",
    "{spaceId}|{spacePath}|{callerType}:{callerId}|{runType}|{scope}",
    "space:{spaceId}:path:{spacePath}:type:{callerType}:caller:{callerId}:run:{runId}:scope:{scope}",
  ])("accepts Spacelift's documented template %s (with {spaceId} first)", (template) => {
    expect(() => validateSubjectTemplate(template)).not.toThrow();
  });

  it.each([
    ["space:{spaceId}:{callerType}:run_type:{runType}", /must contain \{callerId\}/],
    ["space:{spaceId}:stack:{callerId}:scope:{scope}", /must contain \{callerType\}/],
    ["{callerType}:{callerId}:scope:{scope}", /must contain \{spaceId\}/],
    ["space:{spaceId}:{callerType}:{callerId}:{branch}", /unknown placeholder \{branch\}/],
    ["space:{spaceId}:{callerType}:{callerId}:*", /no wildcards/],
    [`space:{spaceId}:{callerType}:{callerId}:${USERNAME_VARIABLE}`, /may hold only/],
    ["space {spaceId}:{callerType}:{callerId}", /may hold only/],
    ["space-{spaceId}-{callerType}:{callerId}", /\{spaceId\} must be separated/],
    ["space:{spaceId}{callerType}:{callerId}", /\{spaceId\} must be separated/],
    ["space:{spaceId}:{callerType}/{callerId}", /\{callerType\} must be separated/],
    [`space:{spaceId}:{callerType}:{callerId}:${"x".repeat(1000)}`, /1 to 1000 characters/],
    // Accepted before, then refused by every render: the delimiter must touch the placeholder.
    ["space:{spaceId}x:{callerType}:{callerId}", /\{spaceId\} must be separated/],
    ["space:{spaceId}:{callerType}:{callerId}:{runType}{runId}", /\{runType\} must be separated/],
    ["space:{spaceId}:{callerType}:{callerId}:run{runType}", /\{runType\} must be separated/],
  ])("refuses %s", (template, message) => {
    expect(() => validateSubjectTemplate(template)).toThrow(message);
  });

  it.each([
    // A wildcard before the first fixed value: the root space role would be `*:root:*`.
    ["{runType}:{spaceId}:{callerType}:{callerId}:{scope}", /\{spaceId\} must be the first/],
    ["run:{runId}:space:{spaceId}:{callerType}:{callerId}", /\{spaceId\} must be the first/],
    ["{callerType}:{callerId}:{runType}:{scope}:{spaceId}", /\{spaceId\} must be the first/],
    // A space name (chosen by a space admin) before the space ID.
    ["{spacePath}|{spaceId}|{callerType}:{callerId}|{runType}", /\{spaceId\} must be the first/],
    // Spacelift's documented path-only templates: roles would trust space names.
    ["{spacePath}|{callerType}:{callerId}|{runType}|{scope}", /must contain \{spaceId\}/],
    [
      "path:{spacePath}:type:{callerType}:caller:{callerId}:run:{runId}",
      /must contain \{spaceId\}/,
    ],
    // A fixed value between two wildcards.
    [
      "space:{spaceId}:{runType}:{callerType}:{callerId}:{scope}:end",
      /\{callerType\} stands between \{runType\} and \{scope\}, which a stack role renders as wildcards/,
    ],
    [
      "space:{spaceId}:{runId}:{callerType}:{callerId}:{runType}",
      /\{callerType\} stands between \{runId\} and \{runType\}/,
    ],
    [
      "space:{spaceId}:{callerType}:{callerId}:{runType}:{scope}:{runId}",
      /\{scope\} stands between \{runType\} and \{runId\}, which a read\/write stack role renders/,
    ],
  ])("refuses %s, whose roles could admit other callers' tokens", (template, message) => {
    expect(() => validateSubjectTemplate(template)).toThrow(message);
  });

  it.each([
    "space:{spaceId}:run:{runId}:{callerType}:{callerId}",
    "space:{spaceId}:{callerType}:{callerId}:{scope}:{runType}:{runId}",
    "{spaceId}|{callerType}|{callerId}|{scope}",
  ])("accepts %s, where every fixed value is anchored at the start or the end", (template) => {
    expect(() => validateSubjectTemplate(template)).not.toThrow();
  });

  it("fails the configuration at start, naming SUBJECT_TEMPLATE", async () => {
    await expect(
      loadVendingConfig({
        SPACELIFT_HOSTNAME: SPACELIFT_HOST,
        AWS_ACCOUNT_ID: "123456789012",
        SUBJECT_TEMPLATE: "space:{spaceId}:{callerId}",
      }),
    ).rejects.toThrow(ConfigurationError);
  });
});

describe("renderSubjectPattern", () => {
  it("fixes the given placeholders and wildcards the varying ones", () => {
    expect(
      renderSubjectPattern(DEFAULT_SUBJECT_TEMPLATE, {
        spaceId: PROD,
        callerType: "stack",
        callerId: "payments-api",
      }),
    ).toBe(`space:${PROD}:stack:payments-api:run_type:*:scope:*`);
    expect(
      renderSubjectPattern(DEFAULT_SUBJECT_TEMPLATE, {
        spaceId: PROD,
        callerType: "stack",
        callerId: "payments-api",
        scope: "read",
      }),
    ).toBe(`space:${PROD}:stack:payments-api:run_type:*:scope:read`);
  });

  it("shortens to one wildcard after the last fixed value's one-character delimiter", () => {
    expect(
      renderSubjectPattern(DEFAULT_SUBJECT_TEMPLATE, { spaceId: PROD, callerType: "stack" }),
    ).toBe(`space:${PROD}:stack:*`);
    expect(
      renderSubjectPattern("{spaceId}|{spacePath}|{callerType}:{callerId}|{runType}|{scope}", {
        spaceId: PROD,
        spacePath: "/root/production",
        callerType: "stack",
        callerId: "web",
      }),
    ).toBe(`${PROD}|/root/production|stack:web|*`);
  });

  it.each([
    ["a wildcard", "pay*"],
    ["a single-character wildcard", "pay?"],
    ["a field separator", "pay:ments"],
    ["a pipe", "pay|ments"],
    ["a policy variable", USERNAME_VARIABLE],
    ["nothing", ""],
  ])("refuses a fixed value holding %s", (_, value) => {
    expect(() =>
      renderSubjectPattern(DEFAULT_SUBJECT_TEMPLATE, {
        spaceId: PROD,
        callerType: "stack",
        callerId: value,
      }),
    ).toThrow(PolicyRenderError);
  });

  it("takes the stack session tag's policy variable as the caller, and nothing else", () => {
    expect(
      renderSubjectPattern(DEFAULT_SUBJECT_TEMPLATE, {
        spaceId: PROD,
        callerType: "stack",
        callerId: STACK_TAG_VARIABLE,
      }),
    ).toBe(`space:${PROD}:stack:${STACK_TAG_VARIABLE}:run_type:*:scope:*`);
    expect(() =>
      renderSubjectPattern(DEFAULT_SUBJECT_TEMPLATE, {
        spaceId: STACK_TAG_VARIABLE,
        callerType: "stack",
      }),
    ).toThrow(PolicyRenderError);
  });
});

describe("assertSubjectPattern", () => {
  it("accepts wildcards that stand for whole fields", () => {
    expect(() =>
      assertSubjectPattern(`space:${PROD}:stack:payments-api:run_type:*:scope:*`, [
        PROD,
        "stack",
        "payments-api",
      ]),
    ).not.toThrow();
  });

  it.each([
    ["a wildcard inside the space segment", "space:production-*:stack:payments-api:*"],
    ["a wildcard inside the stack segment", `space:${PROD}:stack:payments-*:*`],
    ["a ? inside the stack segment", `space:${PROD}:stack:payments-ap?:*`],
    ["a pattern that does not pin the stack", `space:${PROD}:stack:*`],
    ["a pattern that leaves the space open", "space:*:stack:payments-api:*"],
    ["a policy variable", `space:${PROD}:stack:\${aws:username}:*`],
  ])("refuses %s", (_, pattern) => {
    expect(() => assertSubjectPattern(pattern, [PROD, "stack", "payments-api"])).toThrow(
      PolicyRenderError,
    );
  });
});

describe("resolveSpacePath", () => {
  it("knows Spacelift's built-in spaces", async () => {
    expect(await resolveSpacePath(id("root"), undefined)).toBe("/root");
    expect(await resolveSpacePath(id("legacy"), undefined)).toBe("/root/legacy");
  });

  it("joins the names from the root down, as recorded from space events", async () => {
    const store = new InMemorySpacePaths();
    await recordSpace(
      { spaceId: PROD, name: "production", parentSpaceId: id("root") },
      { spacePaths: store },
      1,
    );
    await recordSpace(
      { spaceId: PROD_US, name: "us-east-1", parentSpaceId: PROD },
      { spacePaths: store },
      2,
    );

    expect(await resolveSpacePath(PROD_US, store)).toBe("/root/production/us-east-1");
  });

  it("says which space on the way is unknown, as a retryable error", async () => {
    const store = new InMemorySpacePaths();
    await recordSpace(
      { spaceId: PROD_US, name: "us-east-1", parentSpaceId: PROD },
      { spacePaths: store },
      1,
    );

    const failure = resolveSpacePath(PROD_US, store);
    await expect(failure).rejects.toThrow(SpacePathUnknownError);
    await expect(failure).rejects.toThrow(`space ${PROD} yet`);
  });

  it("treats a space whose name no event has said as unknown", async () => {
    const store = new InMemorySpacePaths();
    await recordSpace(
      { spaceId: PROD, name: undefined, parentSpaceId: id("root") },
      { spacePaths: store },
      1,
    );

    await expect(resolveSpacePath(PROD, store)).rejects.toThrow(/name of space/);
  });

  it.each([
    ["a slash", "prod/us"],
    ["a wildcard", "prod*"],
    ["a field separator", "prod:us"],
    ["a policy variable", USERNAME_VARIABLE],
  ])("refuses a space name holding %s", async (_, name) => {
    const store = new InMemorySpacePaths();
    await recordSpace({ spaceId: PROD, name, parentSpaceId: id("root") }, { spacePaths: store }, 1);

    await expect(resolveSpacePath(PROD, store)).rejects.toThrow(PolicyRenderError);
  });

  it("stops at a parent cycle instead of looping", async () => {
    const store = new InMemorySpacePaths();
    await store.put({ spaceId: PROD, name: "a", parentSpaceId: PROD_US }, 1);
    await store.put({ spaceId: PROD_US, name: "b", parentSpaceId: PROD }, 1);

    await expect(resolveSpacePath(PROD, store)).rejects.toThrow(/nested deeper than/);
  });
});

describe("recordSpace", () => {
  it("keeps the known name when an update only moves the space, and follows the move", async () => {
    const store = new InMemorySpacePaths();
    const staging = id("staging-01HND4B1Q0W5Z7YV3J6QG2X9TR");
    await recordSpace(
      { spaceId: PROD_US, name: "us-east-1", parentSpaceId: PROD },
      { spacePaths: store },
      1,
    );
    await recordSpace(
      { spaceId: staging, name: "staging", parentSpaceId: id("root") },
      { spacePaths: store },
      1,
    );

    await recordSpace(
      { spaceId: PROD_US, name: undefined, parentSpaceId: staging },
      { spacePaths: store },
      2,
    );

    expect(await resolveSpacePath(PROD_US, store)).toBe("/root/staging/us-east-1");
  });

  it("writes nothing when the event says what is already known", async () => {
    const store = new InMemorySpacePaths();
    await recordSpace(
      { spaceId: PROD, name: "production", parentSpaceId: id("root") },
      { spacePaths: store },
      1,
    );
    store.calls.length = 0;

    await recordSpace(
      { spaceId: PROD, name: "production", parentSpaceId: undefined },
      { spacePaths: store },
      2,
    );

    expect(store.calls).toEqual(["get"]);
  });
});
