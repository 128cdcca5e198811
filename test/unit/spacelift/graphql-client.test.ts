import { afterEach, describe, expect, it } from "vitest";
import * as z from "zod/mini";
import { SpaceliftApiError } from "../../../functions/core/errors.ts";
import type { SpaceId, StackId } from "../../../functions/core/identifiers.ts";
import {
  SpaceliftGraphqlClient,
  type SpaceliftGraphqlClientOptions,
} from "../../../functions/spacelift/graphql-client.ts";
import type { StackFields } from "../../../functions/spacelift/resources.ts";
import { toGraphqlEndpoint } from "../../../functions/spacelift/transport.ts";
import {
  type FakeSpaceliftOptions,
  type FakeSpaceliftServer,
  startFakeSpacelift,
} from "../../../testkit/spacelift/fake-spacelift.ts";

const running: FakeSpaceliftServer[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((fake) => fake.close()));
});

type ClientOverrides = Partial<Omit<SpaceliftGraphqlClientOptions, "endpoint">>;

/** A fake Spacelift and a client of it whose sleeps are recorded instead of waited. */
async function startSpacelift(options: FakeSpaceliftOptions = {}, client: ClientOverrides = {}) {
  const spacelift = await startFakeSpacelift(options);
  running.push(spacelift);
  const sleeps: number[] = [];
  const directory = new SpaceliftGraphqlClient({
    endpoint: spacelift.endpoint,
    apiKeyId: spacelift.apiKeyId,
    apiKeySecret: spacelift.apiKeySecret,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...client,
  });
  return { spacelift, directory, sleeps };
}

function makeStacks(count: number): StackFields[] {
  return Array.from({ length: count }, (_, index) => ({
    id: `stack-${String(index).padStart(3, "0")}`,
    space: index % 2 === 0 ? "root" : "platform-01HND497T9JKR76MR3KA2CDJHP",
    labels: index % 3 === 0 ? [`team:${index}`] : [],
  }));
}

const count = <T>(items: readonly T[], item: T) => items.filter((each) => each === item).length;

describe("SpaceliftGraphqlClient.listStacks", () => {
  it("returns each of 250 stacks exactly once, reading 5 pages of 50 with cursors", async () => {
    const stacks = makeStacks(250);
    const { spacelift, directory } = await startSpacelift(
      { stacks: [...stacks].reverse() },
      { pageSize: 50 },
    );

    const { usable: listed } = await directory.listStacks();

    expect(listed).toHaveLength(250);
    expect(new Set(listed.map(({ id }) => id)).size).toBe(250);
    expect([...listed].sort((a, b) => a.id.localeCompare(b.id))).toEqual(stacks);
    expect(spacelift.operations()).toEqual(["apiKeyUser", ...Array(5).fill("searchStacks")]);
  });

  it("returns the stacks Spacelift holds at the time of each call", async () => {
    const { spacelift, directory } = await startSpacelift({ stacks: makeStacks(3) });

    spacelift.state.removeStack("stack-001");
    spacelift.state.addStack({ id: "stack-new", space: "root", labels: ["fresh"] });
    const { usable: listed } = await directory.listStacks();

    expect(listed.map(({ id }) => id)).toEqual(["stack-000", "stack-002", "stack-new"]);
  });

  it("parses every ID as it enters: a stack or space whose ID (or whose space's) fails validation is returned apart as unusable, never among the usable", async () => {
    const { spacelift, directory } = await startSpacelift({
      stacks: [
        { id: "payments-api", space: "root", labels: [] },
        { id: "evil-*", space: "root", labels: [] },
        { id: "billing", space: "root/../x", labels: [] },
      ],
    });
    spacelift.state.addSpace({ id: "Prod Space", name: "x", parentSpace: "root", labels: [] });
    spacelift.state.addSpace({
      id: "staging-01HND4B1Q0W5Z7YV3J6QG2X9TR",
      name: "staging",
      parentSpace: "no such*parent",
      labels: [],
    });

    const stacks = await directory.listStacks();
    const spaces = await directory.listSpaces();

    expect(stacks).toEqual({
      usable: [{ id: "payments-api", space: "root", labels: [] }],
      unusable: [
        { kind: "stack", id: "billing", reason: "the stack's space is not a valid space ID" },
        { kind: "stack", id: "evil-*", reason: "the stack ID is not a valid stack ID" },
      ],
    });
    // In a listing, a parent whose ID fails is taken as none: the space is still converged.
    expect(spaces).toEqual({
      usable: [
        { id: "root", name: "root", parentSpace: null, labels: [] },
        {
          id: "staging-01HND4B1Q0W5Z7YV3J6QG2X9TR",
          name: "staging",
          parentSpace: null,
          labels: [],
        },
      ],
      unusable: [
        { kind: "space", id: "Prod Space", reason: "the space ID is not a valid space ID" },
      ],
    });
  });

  it("defaults a stack's missing labels to an empty list", async () => {
    const { spacelift, directory } = await startSpacelift();
    spacelift.faults.malformed(
      1,
      {
        data: {
          searchStacks: {
            edges: [{ cursor: "c1", node: { id: "no-labels", space: "root", labels: null } }],
            pageInfo: { endCursor: "c1", hasNextPage: false },
          },
        },
      },
      { operation: "searchStacks" },
    );

    const { usable: listed } = await directory.listStacks();

    expect(listed).toEqual([{ id: "no-labels", space: "root", labels: [] }]);
  });

  it("throws SpaceliftApiError instead of looping when hasNextPage is true but the cursor does not advance", async () => {
    const { spacelift, directory } = await startSpacelift();
    const stuckPage = {
      data: {
        searchStacks: {
          edges: [{ cursor: "same", node: { id: "a", space: "root", labels: [] } }],
          pageInfo: { endCursor: "same", hasNextPage: true },
        },
      },
    };
    spacelift.faults.malformed(2, stuckPage, { operation: "searchStacks" });

    await expect(directory.listStacks()).rejects.toThrow(/cursor does not advance/);
    expect(count(spacelift.operations(), "searchStacks")).toBe(2);
  });

  it("rejects a stack node without a space as a malformed response, with zod's error as cause", async () => {
    const { spacelift, directory } = await startSpacelift();
    spacelift.faults.malformed(
      1,
      {
        data: {
          searchStacks: {
            edges: [{ cursor: "c1", node: { id: "a", labels: [] } }],
            pageInfo: { endCursor: "c1", hasNextPage: false },
          },
        },
      },
      { operation: "searchStacks" },
    );

    const error = await directory.listStacks().catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(SpaceliftApiError);
    expect(error).toMatchObject({ name: "SpaceliftApiError", operation: "SearchStacks" });
    expect((error as Error).message).toMatch(/unexpected response shape.*space/);
    expect((error as Error).message).toContain(
      "unexpected response shape: ✖ Invalid input: expected string, received undefined   → at searchStacks.edges[0].node.space",
    );
    expect((error as Error).cause).toBeInstanceOf(z.core.$ZodError);
  });
});

describe("SpaceliftGraphqlClient.listSpaces", () => {
  it("lists spaces with their parent, null for the root, and their labels", async () => {
    const spaces = [
      { id: "root", name: "root", parentSpace: null, labels: [] },
      {
        id: "platform-01HND497T9JKR76MR3KA2CDJHP",
        name: "platform",
        parentSpace: "root",
        labels: ["aws:prod"],
      },
      {
        id: "data-01HPE6H08F8HR8PJR78DPYR3TC",
        name: "data",
        parentSpace: "platform-01HND497T9JKR76MR3KA2CDJHP",
        labels: [],
      },
    ];
    const { directory } = await startSpacelift({ spaces });

    const { usable: listed } = await directory.listSpaces();

    expect(listed).toEqual(spaces);
  });

  it("rejects a spaces answer that is not a list as a malformed response", async () => {
    const { spacelift, directory } = await startSpacelift();
    spacelift.faults.malformed(1, { data: { spaces: "root" } }, { operation: "spaces" });

    await expect(directory.listSpaces()).rejects.toThrow(SpaceliftApiError);
  });
});

describe("SpaceliftGraphqlClient authentication", () => {
  it("reuses the cached token while it is more than 60 s from validUntil", async () => {
    let clock = Date.UTC(2025, 0, 1);
    const now = () => clock;
    const { spacelift, directory } = await startSpacelift(
      { now, tokenLifetimeSeconds: 3600 },
      { now },
    );

    await directory.listSpaces();
    clock += 3600_000 - 61_000;
    await directory.listSpaces();

    expect(spacelift.operations()).toEqual(["apiKeyUser", "spaces", "spaces"]);
  });

  it("exchanges the API key again before calling when the token is within 60 s of validUntil", async () => {
    let clock = Date.UTC(2025, 0, 1);
    const now = () => clock;
    const { spacelift, directory } = await startSpacelift(
      { now, tokenLifetimeSeconds: 3600 },
      { now },
    );

    await directory.listSpaces();
    clock += 3600_000 - 30_000;
    await directory.listSpaces();

    expect(spacelift.operations()).toEqual(["apiKeyUser", "spaces", "apiKeyUser", "spaces"]);
    expect(spacelift.requests.every(({ outcome }) => outcome === "ok")).toBe(true);
  });

  it.each(["graphql-error", "http-401"] as const)(
    "re-authenticates once and retries after a token revoked early is rejected (%s)",
    async (unauthorizedResponse) => {
      const { spacelift, directory } = await startSpacelift({ unauthorizedResponse });
      await directory.listSpaces();

      spacelift.faults.expireTokens();
      const { usable: listed } = await directory.listSpaces();

      expect(listed).toEqual([{ id: "root", name: "root", parentSpace: null, labels: [] }]);
      expect(spacelift.requests.map(({ operation, outcome }) => `${operation}:${outcome}`)).toEqual(
        ["apiKeyUser:ok", "spaces:ok", "spaces:unauthorized", "apiKeyUser:ok", "spaces:ok"],
      );
    },
  );

  it("shares one API key exchange between listStacks and listSpaces called together", async () => {
    const { spacelift, directory } = await startSpacelift({ stacks: makeStacks(2) });

    await Promise.all([directory.listStacks(), directory.listSpaces()]);

    expect(count(spacelift.operations(), "apiKeyUser")).toBe(1);
  });

  it("throws SpaceliftApiError when the fresh token is rejected as well, after one re-authentication", async () => {
    const { spacelift, directory } = await startSpacelift();
    spacelift.faults.graphqlErrors(2, ["token expired"], { operation: "spaces" });

    await expect(directory.listSpaces()).rejects.toThrow(SpaceliftApiError);
    expect(spacelift.operations()).toEqual(["apiKeyUser", "spaces", "apiKeyUser", "spaces"]);
  });

  it("throws SpaceliftApiError for a rejected API key, without retrying or naming the secret", async () => {
    const secret = "wrong-secret-that-must-not-leak";
    const { spacelift, directory } = await startSpacelift({}, { apiKeySecret: secret });

    const error = await directory.listSpaces().catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(SpaceliftApiError);
    expect(error).toMatchObject({ operation: "ApiKeyUser", graphqlErrors: ["unauthorized"] });
    expect(JSON.stringify(error)).not.toContain(secret);
    expect(String(error)).not.toContain(secret);
    expect(spacelift.operations()).toEqual(["apiKeyUser"]);
  });
});

describe("SpaceliftGraphqlClient errors and retries", () => {
  it("throws SpaceliftApiError listing every GraphQL error message, without the secret or a JWT", async () => {
    const { spacelift, directory } = await startSpacelift();
    spacelift.faults.graphqlErrors(1, ["search index unavailable", "please retry later"], {
      operation: "searchStacks",
    });

    const error = await directory.listStacks().catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(SpaceliftApiError);
    expect(error).toMatchObject({
      name: "SpaceliftApiError",
      status: 200,
      graphqlErrors: ["search index unavailable", "please retry later"],
    });
    const message = (error as Error).message;
    expect(message).toBe("Spacelift SearchStacks: search index unavailable; please retry later");
    expect(`${message} ${JSON.stringify(error)}`).not.toContain(spacelift.apiKeySecret);
    expect(`${message} ${JSON.stringify(error)}`).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);
  });

  it("redacts the API secret when Spacelift echoes it in an error message", async () => {
    const { spacelift, directory } = await startSpacelift();
    spacelift.faults.graphqlErrors(1, [`bad variables: ${spacelift.apiKeySecret}`], {
      operation: "spaces",
    });

    const error = await directory.listSpaces().catch((caught: unknown) => caught);

    expect((error as Error).message).toBe("Spacelift Spaces: bad variables: [redacted]");
  });

  it("retries through two 429s, sleeping for the Retry-After seconds each time", async () => {
    const { spacelift, directory, sleeps } = await startSpacelift({ stacks: makeStacks(3) });
    spacelift.faults.rateLimit(2, { retryAfter: "3", operation: "searchStacks" });

    const { usable: listed } = await directory.listStacks();

    expect(listed).toHaveLength(3);
    expect(sleeps).toEqual([3000, 3000]);
    expect(spacelift.requests.map(({ status }) => status)).toEqual([200, 429, 429, 200]);
  });

  it("honours a Retry-After given as an HTTP date, measured against the injected clock", async () => {
    const clock = Date.UTC(2025, 0, 1, 12, 0, 0);
    const { spacelift, directory, sleeps } = await startSpacelift({}, { now: () => clock });
    spacelift.faults.rateLimit(1, { retryAfter: new Date(clock + 7000).toUTCString() });

    await directory.listSpaces();

    expect(sleeps).toEqual([7000]);
  });

  it("backs off exponentially (500, 1000, 2000 ms) on 503s without Retry-After", async () => {
    const { spacelift, directory, sleeps } = await startSpacelift();
    spacelift.faults.serverError(3, { status: 503, operation: "spaces" });

    await directory.listSpaces();

    expect(sleeps).toEqual([500, 1000, 2000]);
  });

  it("gives up with SpaceliftApiError (status 500) after maxRetries retries of persistent 500s", async () => {
    const { spacelift, directory, sleeps } = await startSpacelift({}, { maxRetries: 3 });
    spacelift.faults.serverError(Number.POSITIVE_INFINITY, { operation: "spaces" });

    const error = await directory.listSpaces().catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(SpaceliftApiError);
    expect(error).toMatchObject({ status: 500, operation: "Spaces" });
    expect(count(spacelift.operations(), "spaces")).toBe(4);
    expect(sleeps).toHaveLength(3);
  });

  it("retries a request whose connection failed, and keeps the network error as cause when it gives up", async () => {
    const failure = new TypeError("fetch failed");
    let failuresLeft = 1;
    const flakyFetch: typeof fetch = (input, init) => {
      if (failuresLeft-- > 0) return Promise.reject(failure);
      return fetch(input, init);
    };
    const { directory, sleeps } = await startSpacelift({}, { fetch: flakyFetch });

    expect((await directory.listSpaces()).usable).toHaveLength(1);
    expect(sleeps).toEqual([500]);

    failuresLeft = Number.POSITIVE_INFINITY;
    const error = await directory.listSpaces().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SpaceliftApiError);
    expect((error as Error).cause).toBe(failure);
  });
});

describe("SpaceliftGraphqlClient on throttling reported in the errors array", () => {
  it("retries a rate-limit GraphQL error (HTTP 200) with backoff and returns the listing", async () => {
    const { spacelift, directory, sleeps } = await startSpacelift({ stacks: makeStacks(3) });
    spacelift.faults.graphqlErrors(2, ["Rate limit exceeded, slow down"], {
      operation: "searchStacks",
    });

    const { usable: listed } = await directory.listStacks();

    expect(listed).toHaveLength(3);
    expect(sleeps).toEqual([500, 1000]);
    expect(count(spacelift.operations(), "searchStacks")).toBe(3);
  });

  it("retries an error whose extensions.code says throttled, whatever its message", async () => {
    const { spacelift, directory, sleeps } = await startSpacelift();
    spacelift.faults.graphqlErrors(1, ["request refused"], {
      operation: "spaces",
      code: "TOO_MANY_REQUESTS",
    });

    expect((await directory.listSpaces()).usable).toHaveLength(1);
    expect(sleeps).toEqual([500]);
  });

  it("waits for the Retry-After seconds sent with a throttling GraphQL error", async () => {
    const { spacelift, directory, sleeps } = await startSpacelift();
    spacelift.faults.graphqlErrors(1, ["rate limit exceeded"], {
      operation: "spaces",
      retryAfter: "4",
    });

    expect((await directory.listSpaces()).usable).toHaveLength(1);
    expect(sleeps).toEqual([4000]);
  });

  it("gives up on persistent throttling after maxRetries retries, naming the last error", async () => {
    const { spacelift, directory, sleeps } = await startSpacelift({}, { maxRetries: 2 });
    spacelift.faults.graphqlErrors(Number.POSITIVE_INFINITY, ["too many requests"], {
      operation: "spaces",
    });

    const error = await directory.listSpaces().catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(SpaceliftApiError);
    expect((error as Error).message).toBe(
      "Spacelift Spaces: too many requests, still failing after 3 attempts",
    );
    expect(count(spacelift.operations(), "spaces")).toBe(3);
    expect(sleeps).toHaveLength(2);
  });

  it("never retries a validation error: one request, thrown at once", async () => {
    const { spacelift, directory, sleeps } = await startSpacelift();
    spacelift.faults.graphqlErrors(Number.POSITIVE_INFINITY, ['Unknown argument "first"'], {
      operation: "searchStacks",
      code: "GRAPHQL_VALIDATION_FAILED",
    });

    await expect(directory.listStacks()).rejects.toThrow(SpaceliftApiError);
    expect(count(spacelift.operations(), "searchStacks")).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it("never retries an auth error as throttling: one re-authentication, then it throws", async () => {
    const { spacelift, directory, sleeps } = await startSpacelift();
    spacelift.faults.graphqlErrors(Number.POSITIVE_INFINITY, ["unauthorized: try again later"], {
      operation: "spaces",
    });

    await expect(directory.listSpaces()).rejects.toThrow(SpaceliftApiError);
    expect(count(spacelift.operations(), "spaces")).toBe(2);
    expect(sleeps).toEqual([]);
  });
});

describe("SpaceliftGraphqlClient never returns a partial listing", () => {
  it("throws when page 3 of 5 answers an error, instead of returning the 100 stacks read so far", async () => {
    const { spacelift, directory } = await startSpacelift({ stacks: makeStacks(250) });
    spacelift.faults.graphqlErrors(1, ["internal error"], { operation: "searchStacks", skip: 2 });

    const error = await directory.listStacks().catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(SpaceliftApiError);
    expect(count(spacelift.operations(), "searchStacks")).toBe(3);
  });

  it("throws when page 3 stays throttled past the retries", async () => {
    const { spacelift, directory } = await startSpacelift(
      { stacks: makeStacks(250) },
      { maxRetries: 1 },
    );
    spacelift.faults.rateLimit(Number.POSITIVE_INFINITY, { operation: "searchStacks", skip: 2 });

    await expect(directory.listStacks()).rejects.toMatchObject({ status: 429 });
    expect(count(spacelift.operations(), "searchStacks")).toBe(4);
  });
});

describe("SpaceliftGraphqlClient audit trail and lookups", () => {
  const T = Date.UTC(2026, 11, 6, 12, 0, 0);

  it("lists every entry since a time, oldest first, paging newest first and stopping at the first page that reaches back past it", async () => {
    const { spacelift, directory } = await startSpacelift({}, { pageSize: 10 });
    for (let minute = 0; minute < 60; minute++) {
      spacelift.state.recordAudit("stack.update", `stack-${minute}`, T + minute * 60_000);
    }

    const entries = await directory.entriesSince(T + 35 * 60_000);

    expect(entries.map(({ resource }) => ("id" in resource ? resource.id : null))).toEqual(
      Array.from({ length: 25 }, (_, index) => `stack-${index + 35}`),
    );
    expect(entries[0]).toEqual({
      id: expect.any(String),
      action: "stack.update",
      resourceType: "STACK",
      resource: { kind: "stack", id: "stack-35" },
      createdAt: T + 35 * 60_000,
    });
    // 25 entries at 10 a page, newest first: the third page reaches back past the time.
    expect(count(spacelift.operations(), "searchAuditTrailEntries")).toBe(3);
  });

  it("parses each entry's resource ID by its type; one that fails validation, or of another type, is unusable", async () => {
    const { spacelift, directory } = await startSpacelift();
    spacelift.state.recordAudit("stack.create", "payments-api", T);
    spacelift.state.recordAudit("stack.create", "payments-*", T + 1_000);
    spacelift.state.recordAudit("space.create", "root", T + 2_000);
    spacelift.state.recordAudit("space.create", "payments-api", T + 3_000);
    spacelift.state.recordAudit("stack.create", "payments-api", T + 4_000, "MODULE");

    const entries = await directory.entriesSince(T);

    expect(entries.map(({ resource }) => resource)).toEqual([
      { kind: "stack", id: "payments-api" },
      { kind: "unusable" },
      { kind: "space", id: "root" },
      { kind: "unusable" },
      { kind: "unusable" },
    ]);
  });

  it("throws when a page of the audit trail fails, instead of returning the entries read so far", async () => {
    const { spacelift, directory } = await startSpacelift({}, { pageSize: 10 });
    for (let minute = 0; minute < 60; minute++) {
      spacelift.state.recordAudit("stack.update", `stack-${minute}`, T + minute * 60_000);
    }
    spacelift.faults.graphqlErrors(1, ["internal error"], {
      operation: "searchAuditTrailEntries",
      skip: 2,
    });

    await expect(directory.entriesSince(T)).rejects.toThrow(SpaceliftApiError);
  });

  it("reads one stack's space and labels and one space's name, parent and labels; undefined when Spacelift has none", async () => {
    const { directory } = await startSpacelift({
      stacks: [
        {
          id: "payments-api",
          space: "production-01HND4B1Q0W5Z7YV3J6QG2X9TR",
          labels: ["team:payments"],
        },
      ],
      spaces: [
        { id: "root", name: "root", parentSpace: null, labels: [] },
        {
          id: "production-01HND4B1Q0W5Z7YV3J6QG2X9TR",
          name: "production",
          parentSpace: "root",
          labels: ["env:prod"],
        },
      ],
    });

    expect(await directory.stack("payments-api" as StackId)).toEqual({
      id: "payments-api",
      space: "production-01HND4B1Q0W5Z7YV3J6QG2X9TR",
      labels: ["team:payments"],
    });
    expect(await directory.stack("gone" as StackId)).toBeUndefined();
    expect(await directory.space("production-01HND4B1Q0W5Z7YV3J6QG2X9TR" as SpaceId)).toEqual({
      id: "production-01HND4B1Q0W5Z7YV3J6QG2X9TR",
      name: "production",
      parentSpace: "root",
      labels: ["env:prod"],
    });
    expect(await directory.space("gone-01HQ1234567890ABCDEFGHJKMN" as SpaceId)).toBeUndefined();
  });
});

describe("toGraphqlEndpoint", () => {
  it("builds https://<hostname>/graphql and refuses anything but a bare hostname", () => {
    expect(toGraphqlEndpoint("acme.app.spacelift.io")).toBe(
      "https://acme.app.spacelift.io/graphql",
    );
    expect(() => toGraphqlEndpoint("https://acme.app.spacelift.io/graphql")).toThrow(TypeError);
  });
});
