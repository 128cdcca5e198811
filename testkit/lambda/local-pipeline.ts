/**
 * The whole pipeline on loopback: an HTTP server that hands each request to the receiver
 * Lambda handler as an HTTP API (payload 2.0) event, and a poller that feeds the FIFO queue
 * to the provisioner Lambda handler the way Lambda's SQS event source does (batches, partial
 * batch failures left on the queue until their visibility timeout, then redelivered).
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
  SQSBatchResponse,
  SQSEvent,
} from "aws-lambda";
import { localClientConfig } from "../aws/local-aws.ts";
import { toSqsEvent } from "./sqs-event.ts";

type ReceiverHandler = (
  event: APIGatewayProxyEventV2,
) => Promise<APIGatewayProxyStructuredResultV2>;
type ProvisionerHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/** Read at most this much of a request body: anything longer is refused (413) by the receiver. */
const READ_LIMIT = 256 * 1024 + 1;

export interface LocalPipeline {
  readonly url: string;
  stop(): Promise<void>;
}

export async function startLocalPipeline(options: {
  readonly endpoint: string;
  readonly queueUrl: string;
  readonly port: number;
  readonly host?: string;
  readonly onBatch?: (result: { received: number; failed: number }) => void;
}): Promise<LocalPipeline> {
  // The handlers read their configuration from process.env when first imported, exactly as
  // in Lambda, so the caller sets the environment before this runs.
  const receiver = (await import("../../functions/receiver.ts")).handler as ReceiverHandler;
  const provisioner = (await import("../../functions/provisioner.ts"))
    .handler as ProvisionerHandler;
  const server = createServer((request, response) => {
    void answer(request, response);
  });
  /**
   * One request, start to end; never rejects. A client that disconnects mid-body (ECONNRESET,
   * "aborted") only loses its own request: an unhandled rejection here would stop the whole
   * local run and leave moto_server behind.
   */
  const answer = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    let body: Buffer;
    try {
      body = await readBody(request);
    } catch {
      response.destroy();
      return;
    }
    try {
      const result = await receiver(toHttpApiEvent(request, body));
      response.writeHead(result.statusCode ?? 200, result.headers as Record<string, string>);
      response.end(result.body ?? "");
    } catch {
      if (response.headersSent) {
        response.destroy();
        return;
      }
      response.writeHead(500, { "content-type": "application/json" });
      response.end(JSON.stringify({ message: "internal error" }));
    }
  };
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve) => server.listen(options.port, host, resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port;

  const sqs = new SQSClient(localClientConfig(options.endpoint));
  let running = true;
  const poller = (async () => {
    while (running) {
      try {
        const received = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: options.queueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 1,
            MessageSystemAttributeNames: ["All"],
          }),
        );
        const messages = received.Messages ?? [];
        if (messages.length === 0) continue;
        const result = await provisioner(toSqsEvent(messages, options.queueUrl), lambdaContext());
        const failed = new Set(result.batchItemFailures.map((item) => item.itemIdentifier));
        const done = messages.filter((message) => !failed.has(message.MessageId ?? ""));
        if (done.length > 0) {
          await sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: options.queueUrl,
              Entries: done.map((message, index) => ({
                Id: String(index),
                ReceiptHandle: message.ReceiptHandle ?? "",
              })),
            }),
          );
        }
        options.onBatch?.({ received: messages.length, failed: failed.size });
      } catch (error) {
        if (!running) break;
        process.stderr.write(`poller: ${(error as Error).message}\n`);
        await sleep(500);
      }
    }
  })();

  return {
    url: `http://${host}:${port}/webhooks/spacelift`,
    async stop() {
      running = false;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
      await poller;
      sqs.destroy();
    },
  };
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    if (size < READ_LIMIT) chunks.push(chunk);
    size += chunk.length;
  }
  return Buffer.concat(chunks).subarray(0, READ_LIMIT);
}

function toHttpApiEvent(request: IncomingMessage, body: Buffer): APIGatewayProxyEventV2 {
  const url = new URL(request.url ?? "/", "http://localhost");
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(request.headers)) {
    if (value !== undefined)
      headers[key.toLowerCase()] = Array.isArray(value) ? value.join(",") : value;
  }
  const method = request.method ?? "GET";
  return {
    version: "2.0",
    routeKey: `${method} ${url.pathname}`,
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ""),
    headers,
    requestContext: {
      accountId: "123456789012",
      apiId: "local",
      domainName: "localhost",
      domainPrefix: "localhost",
      http: {
        method,
        path: url.pathname,
        protocol: "HTTP/1.1",
        sourceIp: request.socket.remoteAddress ?? "127.0.0.1",
        userAgent: headers["user-agent"] ?? "",
      },
      requestId: randomUUID(),
      routeKey: `${method} ${url.pathname}`,
      stage: "$default",
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
    },
    body: body.toString("base64"),
    isBase64Encoded: true,
  };
}

/** A Lambda context with the provisioner's 60 s timeout (serverless.yml). */
export function lambdaContext(functionName = "provisioner-local"): Context {
  const deadline = Date.now() + 60_000;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: "512",
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: "local",
    getRemainingTimeInMillis: () => deadline - Date.now(),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
