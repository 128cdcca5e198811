/**
 * The Lambda runtime the functions deploy on, and the Node.js the bundle tests run them with.
 * nodejs20.x reached end of life on 2026-04-30; nodejs24.x is supported until 2028-04-30
 * (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html). The bundles are built
 * for that major (esbuild `target`) and run in tests under that major's binary
 * (tools/lambda-node), not the machine's Node 20.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { invokeBundledHandler } from "../../testkit/lambda/bundled-handler.ts";
import {
  bundleHandler,
  deployedEsbuildOptions,
  lambdaNodeBinary,
  lambdaRuntimeMajor,
} from "../../testkit/lambda/lambda-bundle.ts";
import { SPACELIFT_HOST } from "../../testkit/spacelift/fixtures.ts";

let work: string;
let receiver: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "lambda-runtime-"));
  ({ entryFile: receiver } = await bundleHandler("functions/receiver.ts", work));
}, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the Lambda runtime", () => {
  it("is nodejs24.x, and the bundles are built for Node 24", () => {
    expect(lambdaRuntimeMajor()).toBe(24);
    expect(deployedEsbuildOptions().target).toBe("node24");
  });

  it("is what the bundle tests run the bundles with", async () => {
    const { result, nodeVersion } = await invokeBundledHandler(
      receiver,
      { rawPath: "/elsewhere", requestContext: { http: { method: "POST" } }, body: "" },
      {
        AWS_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: "testing",
        AWS_SECRET_ACCESS_KEY: "testing",
        POWERTOOLS_METRICS_DISABLED: "true",
        POWERTOOLS_LOG_LEVEL: "SILENT",
        SPACELIFT_HOSTNAME: SPACELIFT_HOST,
        SPACELIFT_WEBHOOK_SECRET: "runtime-webhook-secret-0123456789",
        QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/events.fifo",
      },
    );

    expect(result).toMatchObject({ statusCode: 404 });
    expect(nodeVersion).toMatch(/^v24\./);
    expect(process.version).toMatch(/^v20\./);
  });

  it("fails clearly, saying how to install it, when the binary is missing", () => {
    const previous = process.env.LAMBDA_NODE_BINARY;
    process.env.LAMBDA_NODE_BINARY = join(work, "no-such-node");
    try {
      expect(() => lambdaNodeBinary()).toThrow(
        /The bundles run on Node 24 \(serverless\.yml runtime\), but .*no-such-node does not exist\. Install it with `npm run lambda-node`/,
      );
    } finally {
      if (previous === undefined) delete process.env.LAMBDA_NODE_BINARY;
      else process.env.LAMBDA_NODE_BINARY = previous;
    }
  });
});
