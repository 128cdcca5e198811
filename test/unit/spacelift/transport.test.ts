/**
 * Red-team attacks on the Spacelift transport that the fake Spacelift cannot play: answers
 * from a real HTTP server, read with the platform's own fetch.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import * as z from "zod/mini";
import { SpaceliftApiError } from "../../../functions/core/errors.ts";
import { describeError } from "../../../functions/core/reconcile/describe-error.ts";
import { SpaceliftTransport } from "../../../functions/spacelift/transport.ts";

const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))),
  );
});

/** A loopback HTTP server answering with `handle`; every request's body is recorded. */
async function serve(
  handle: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<{ url: string; bodies: string[] }> {
  const bodies: string[] = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => {
      body += chunk.toString("utf8");
    });
    request.on("end", () => {
      bodies.push(body);
      handle(request, response);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/graphql`, bodies };
}

const SECRET = "api-key-secret-that-must-stay-with-spacelift";

describe("SpaceliftTransport and redirects", () => {
  it.each([307, 308])(
    "never follows an HTTP %i: the API key exchange's body (its secret) reaches no other origin, and the request fails",
    async (status) => {
      const elsewhere = await serve((_, response) => {
        response.writeHead(200, { "content-type": "application/json" });
        response.end(JSON.stringify({ data: { apiKeyUser: { jwt: "stolen", validUntil: 1 } } }));
      });
      const spacelift = await serve((_, response) => {
        response.writeHead(status, { location: elsewhere.url });
        response.end();
      });
      const transport = new SpaceliftTransport({
        endpoint: spacelift.url,
        apiKeyId: "key-id",
        apiKeySecret: SECRET,
        maxRetries: 0,
      });

      const error = await transport
        .request("Spaces", "{ spaces { id } }", z.unknown(), {})
        .catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(SpaceliftApiError);
      expect(spacelift.bodies).toHaveLength(1);
      expect(elsewhere.bodies).toEqual([]);
      expect(`${String(error)} ${JSON.stringify(error)}`).not.toContain(SECRET);
    },
  );
});

/** A fetch that accepts the key, then answers every operation with `status` and `Retry-After`. */
function throttlingFetch(status: number, retryAfter: string): typeof fetch {
  return async (_input, init) => {
    const { operationName } = JSON.parse(String(init?.body)) as { operationName: string };
    if (operationName === "ApiKeyUser") {
      return Response.json({ data: { apiKeyUser: { jwt: "jwt", validUntil: 4_000_000_000 } } });
    }
    return new Response("", { status, headers: { "retry-after": retryAfter } });
  };
}

describe("SpaceliftTransport and Retry-After", () => {
  const NOW = Date.parse("2026-01-01T00:00:00.000Z");

  it.each([
    ["a day in seconds", "86400"],
    ["a date a year ahead", new Date(NOW + 365 * 86_400_000).toUTCString()],
  ])(
    "never parks a request longer than 120 s per retry on a Retry-After of %s, and gives up after maxRetries",
    async (_, retryAfter) => {
      const sleeps: number[] = [];
      const transport = new SpaceliftTransport({
        endpoint: "https://acme.app.spacelift.io/graphql",
        apiKeyId: "key-id",
        apiKeySecret: SECRET,
        fetch: throttlingFetch(429, retryAfter),
        now: () => NOW,
        maxRetries: 3,
        sleep: async (ms) => {
          sleeps.push(ms);
        },
      });

      const error = await transport
        .request("Spaces", "{ spaces { id } }", z.unknown(), {})
        .catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(SpaceliftApiError);
      expect(error).toMatchObject({ status: 429 });
      expect(sleeps).toEqual([120_000, 120_000, 120_000]);
    },
  );

  it.each([
    ["negative", "-5"],
    ["unreadable", "soon"],
    ["past", "Thu, 01 Jan 1970 00:00:00 GMT"],
    ["zero", "0"],
    ["infinite", "9".repeat(400)],
  ])(
    "backs off exponentially on a %s Retry-After instead of retrying at once",
    async (_, retryAfter) => {
      const sleeps: number[] = [];
      const transport = new SpaceliftTransport({
        endpoint: "https://acme.app.spacelift.io/graphql",
        apiKeyId: "key-id",
        apiKeySecret: SECRET,
        fetch: throttlingFetch(503, retryAfter),
        now: () => NOW,
        maxRetries: 3,
        sleep: async (ms) => {
          sleeps.push(ms);
        },
      });

      await expect(
        transport.request("Spaces", "{ spaces { id } }", z.unknown(), {}),
      ).rejects.toBeInstanceOf(SpaceliftApiError);
      expect(sleeps).toEqual([500, 1000, 2000]);
    },
  );
});

describe("SpaceliftTransport and answers that echo what it sent", () => {
  it("keeps no fragment of the API secret from a body that is not JSON, in the error or its causes", async () => {
    const echoed = `{"variables":{"id":"key-id","secret":${SECRET}}}`;
    const transport = new SpaceliftTransport({
      endpoint: "https://acme.app.spacelift.io/graphql",
      apiKeyId: "key-id",
      apiKeySecret: SECRET,
      fetch: async () => new Response(echoed, { status: 400 }),
      maxRetries: 0,
    });

    const error = await transport
      .request("Spaces", "{ spaces { id } }", z.unknown(), {})
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(SpaceliftApiError);
    expect(error).toMatchObject({ operation: "ApiKeyUser", status: 400 });
    expect(describeError(error)).not.toContain(SECRET.slice(0, 6));
  });
});

describe("SpaceliftTransport and an API key exchange of the wrong shape", () => {
  it("names neither the JWT it was given nor the secret, in the error or its causes", async () => {
    const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJyZWQtdGVhbSJ9.c2lnbmF0dXJl";
    const transport = new SpaceliftTransport({
      endpoint: "https://acme.app.spacelift.io/graphql",
      apiKeyId: "key-id",
      apiKeySecret: SECRET,
      fetch: async () => Response.json({ data: { apiKeyUser: { jwt, validUntil: "tomorrow" } } }),
      maxRetries: 0,
    });

    const error = await transport
      .request("Spaces", "{ spaces { id } }", z.unknown(), {})
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(SpaceliftApiError);
    expect(error).toMatchObject({ operation: "ApiKeyUser" });
    const said = `${describeError(error)} ${JSON.stringify(error)} ${JSON.stringify((error as Error).cause)}`;
    expect(said).toContain("validUntil");
    expect(said).not.toContain(jwt.slice(0, 12));
    expect(said).not.toContain(SECRET.slice(0, 6));
  });
});

describe("SpaceliftTransport and a token refused to concurrent requests", () => {
  it("exchanges the key once more for all of them, not once per request, and each succeeds with the new token, even one refused after the new token came", async () => {
    let exchanges = 0;
    let firstSuccess: () => void = () => {};
    const succeeded = new Promise<void>((resolve) => {
      firstSuccess = resolve;
    });
    const fetch: typeof globalThis.fetch = async (_input, init) => {
      const { operationName } = JSON.parse(String(init?.body)) as { operationName: string };
      if (operationName === "ApiKeyUser") {
        exchanges += 1;
        return Response.json({
          data: { apiKeyUser: { jwt: `jwt-${exchanges}`, validUntil: 4_000_000_000 } },
        });
      }
      const authorization = new Headers(init?.headers).get("authorization");
      if (authorization !== `Bearer jwt-2`) {
        // The last refusal arrives once another request has already succeeded with jwt-2.
        if (operationName === "Three") await succeeded;
        return new Response("", { status: 401 });
      }
      firstSuccess();
      return Response.json({ data: { answer: operationName } });
    };
    const transport = new SpaceliftTransport({
      endpoint: "https://acme.app.spacelift.io/graphql",
      apiKeyId: "key-id",
      apiKeySecret: SECRET,
      fetch,
      maxRetries: 0,
    });

    const answers = await Promise.all(
      ["One", "Two", "Three"].map((operation) =>
        transport.request(operation, "{ x }", z.object({ answer: z.string() }), {}),
      ),
    );

    expect(answers).toEqual([{ answer: "One" }, { answer: "Two" }, { answer: "Three" }]);
    expect(exchanges).toBe(2);
  });
});
