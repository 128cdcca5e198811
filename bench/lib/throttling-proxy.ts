/**
 * A loopback HTTP proxy in front of an AWS emulator that throttles IAM write actions at a fixed
 * rate, answering the way IAM does when its control-plane rate is exceeded: HTTP 400 with the
 * query-protocol `Throttling` error. Reads (Get*, List*) pass untouched; IAM's real limits on
 * reads are far higher than on writes.
 */
import { randomUUID } from "node:crypto";
import { Agent, createServer, type IncomingMessage, request, type Server } from "node:http";
import { isReadOperation } from "../../testkit/aws/api-calls.ts";

/** A token bucket: `ratePerSecond` tokens a second, holding at most `capacity`. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly capacity: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = capacity;
    this.last = now();
  }

  /** Takes one token if there is one. */
  take(): boolean {
    const now = this.now();
    this.tokens = Math.min(
      this.capacity,
      this.tokens + ((now - this.last) / 1000) * this.ratePerSecond,
    );
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export interface ThrottlingProxyStats {
  /** Write requests forwarded, by action. */
  readonly forwardedWrites: Readonly<Record<string, number>>;
  /** Write requests refused with Throttling, by action. */
  readonly throttledWrites: Readonly<Record<string, number>>;
  readonly forwardedReads: number;
  /** Time of the first and last forwarded write (ms, performance.now()). */
  readonly firstWriteAt: number | undefined;
  readonly lastWriteAt: number | undefined;
}

export interface ThrottlingProxy {
  readonly endpoint: string;
  stats(): ThrottlingProxyStats;
  stop(): Promise<void>;
}

export const THROTTLING_BODY = (requestId: string) =>
  '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">' +
  "<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>" +
  `<RequestId>${requestId}</RequestId></ErrorResponse>`;

export async function startThrottlingProxy(options: {
  /** The emulator's endpoint, e.g. http://127.0.0.1:5000. */
  readonly target: string;
  readonly bucket: TokenBucket;
}): Promise<ThrottlingProxy> {
  const target = new URL(options.target);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const forwardedWrites = new Map<string, number>();
  const throttledWrites = new Map<string, number>();
  let forwardedReads = 0;
  let firstWriteAt: number | undefined;
  let lastWriteAt: number | undefined;

  const server: Server = createServer((incoming, outgoing) => {
    void readAll(incoming).then((body) => {
      // IAM speaks the query protocol: the operation is the form body's Action field.
      const action = new URLSearchParams(body.toString("utf8")).get("Action") ?? "";
      if (action !== "" && !isReadOperation(action)) {
        if (!options.bucket.take()) {
          throttledWrites.set(action, (throttledWrites.get(action) ?? 0) + 1);
          const requestId = randomUUID();
          outgoing.writeHead(400, {
            "content-type": "text/xml",
            "x-amzn-requestid": requestId,
          });
          outgoing.end(THROTTLING_BODY(requestId));
          return;
        }
        forwardedWrites.set(action, (forwardedWrites.get(action) ?? 0) + 1);
        const now = performance.now();
        firstWriteAt ??= now;
        lastWriteAt = now;
      } else {
        forwardedReads++;
      }
      const upstream = request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          method: incoming.method,
          path: incoming.url,
          headers: { ...incoming.headers, host: target.host },
        },
        (response) => {
          outgoing.writeHead(response.statusCode ?? 502, response.headers);
          response.pipe(outgoing);
        },
      );
      upstream.on("error", (error) => {
        outgoing.writeHead(502, { "content-type": "text/plain" });
        outgoing.end(`proxy: ${error.message}`);
      });
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats: () => ({
      forwardedWrites: Object.fromEntries(forwardedWrites),
      throttledWrites: Object.fromEntries(throttledWrites),
      forwardedReads,
      firstWriteAt,
      lastWriteAt,
    }),
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      agent.destroy();
    },
  };
}

async function readAll(incoming: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of incoming as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}
