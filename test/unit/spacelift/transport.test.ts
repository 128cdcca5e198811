/**
 * Red-team attacks on the Spacelift transport that the fake Spacelift cannot play: answers
 * from a real HTTP server, read with the platform's own fetch.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import * as z from "zod/mini";
import { SpaceliftApiError } from "../../../functions/core/errors.ts";
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
