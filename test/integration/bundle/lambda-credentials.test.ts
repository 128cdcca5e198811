/**
 * The receiver as it ships: bundled with serverless.yml's esbuild options, where
 * `@aws-sdk/credential-provider-node` is replaced by functions/adapters/lambda-credential-provider.ts.
 * The bundle runs in a child process against moto_server, through a loopback proxy that records
 * how each AWS request was signed: with Lambda's credentials from the environment, or from a
 * container credentials endpoint, and never from the SDK's other sources (a shared credentials
 * file here), which the bundle no longer carries. Its webhook secret comes through the
 * Parameters and Secrets extension's loopback interface (a stand-in backed by moto here), so the
 * only AWS request the bundle itself signs is SQS's.
 */
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import type { Metafile } from "esbuild";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { decodeQueueMessage } from "../../../functions/core/queue-message.ts";
import { WEBHOOK_PATH } from "../../../functions/core/receive.ts";
import { localClientConfig } from "../../../testkit/aws/local-aws.ts";
import { type MotoServer, startMotoServer } from "../../../testkit/aws/moto.ts";
import {
  type ParametersExtensionStandIn,
  startParametersExtension,
} from "../../../testkit/aws/parameters-extension.ts";
import { invokeBundledHandler } from "../../../testkit/lambda/bundled-handler.ts";
import {
  bundledInputs,
  bundleHandler,
  startupOutputs,
} from "../../../testkit/lambda/lambda-bundle.ts";
import { auditEvent, signedDelivery } from "../../../testkit/spacelift/events.ts";
import { SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const SECRET = "bundle-webhook-secret-0123456789";
const SECRET_PARAMETER = "/spacelift-role-vending/webhook-secret";
const ROLE_KEYS = {
  accessKeyId: "ASIAEXECUTIONROLE01",
  secretAccessKey: "execution-role-secret",
  sessionToken: "execution-role-session-token",
};
const CONTAINER_KEYS = {
  accessKeyId: "ASIACONTAINERCREDS1",
  secretAccessKey: "container-secret",
  sessionToken: "container-session-token",
};
/** In the shared credentials file: what the SDK's full default chain would fall back to. */
const PROFILE_KEY = "AKIASHAREDPROFILE01";

interface SignedRequest {
  readonly target: string;
  readonly authorization: string;
  readonly securityToken: string | undefined;
}

let moto: MotoServer;
let proxy: Server;
let proxyEndpoint: string;
let signed: SignedRequest[] = [];
let containerServer: Server;
let containerUrl: string;
let containerAuthorizations: (string | undefined)[] = [];
let work: string;
let bundle: string;
let metafile: Metafile;
let queueUrl: string;
let sqs: SQSClient;
let ssm: SSMClient;
let extension: ParametersExtensionStandIn;

/** A loopback HTTP server on a free port; resolves to its base URL. */
async function listen(server: Server): Promise<string> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address !== "object") throw new Error("no address");
  return `http://127.0.0.1:${address.port}`;
}

beforeAll(async () => {
  moto = await startMotoServer();
  const motoUrl = new URL(moto.endpoint);
  // Forwards everything to moto, keeping the signature of every AWS request it sees.
  proxy = createServer((incoming, outgoing) => {
    signed.push({
      target: String(incoming.headers["x-amz-target"] ?? ""),
      authorization: String(incoming.headers.authorization ?? ""),
      securityToken: incoming.headers["x-amz-security-token"] as string | undefined,
    });
    const forwarded = request(
      {
        host: motoUrl.hostname,
        port: motoUrl.port,
        method: incoming.method,
        path: incoming.url,
        headers: incoming.headers,
      },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    incoming.pipe(forwarded);
  });
  proxyEndpoint = await listen(proxy);
  // What a container credentials endpoint answers (the ECS/SnapStart shape).
  containerServer = createServer((incoming, outgoing) => {
    containerAuthorizations.push(incoming.headers.authorization);
    outgoing.writeHead(200, { "content-type": "application/json" });
    outgoing.end(
      JSON.stringify({
        AccessKeyId: CONTAINER_KEYS.accessKeyId,
        SecretAccessKey: CONTAINER_KEYS.secretAccessKey,
        Token: CONTAINER_KEYS.sessionToken,
        Expiration: new Date(Date.now() + 3_600_000).toISOString(),
      }),
    );
  });
  containerUrl = `${await listen(containerServer)}/credentials`;

  // Created through the proxy, so the queue URL moto hands back points at the proxy.
  const config = localClientConfig(proxyEndpoint);
  sqs = new SQSClient(config);
  ssm = new SSMClient(localClientConfig(moto.endpoint));
  extension = await startParametersExtension(ssm, ROLE_KEYS.sessionToken);
  queueUrl =
    (
      await sqs.send(
        new CreateQueueCommand({
          QueueName: "bundle-events.fifo",
          Attributes: { FifoQueue: "true" },
        }),
      )
    ).QueueUrl ?? "";
  await ssm.send(
    new PutParameterCommand({ Name: SECRET_PARAMETER, Value: SECRET, Type: "SecureString" }),
  );

  work = mkdtempSync(join(tmpdir(), "lambda-bundle-"));
  writeFileSync(
    join(work, "credentials"),
    `[default]\naws_access_key_id = ${PROFILE_KEY}\naws_secret_access_key = profile-secret\n`,
  );
  ({ entryFile: bundle, metafile } = await bundleHandler("functions/receiver.ts", work));
}, 120_000);

afterAll(async () => {
  await extension?.close();
  ssm?.destroy();
  sqs?.destroy();
  proxy?.closeAllConnections();
  proxy?.close();
  containerServer?.close();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
  await moto?.stop();
});

beforeEach(() => {
  signed = [];
  containerAuthorizations = [];
  extension.requests.length = 0;
});

/**
 * Hands the bundled receiver, in a fresh Node process with Lambda-like environment variables,
 * one signed `stack.create` delivery; returns its status code and the process's output.
 */
async function invokeBundledReceiver(
  credentials: Record<string, string>,
  stack: string,
  options: { afterImport?: string } = {},
): Promise<{ statusCode: number; output: string }> {
  const delivery = signedDelivery(auditEvent("stack.create", { account: "acme", stack }), SECRET);
  const event = {
    rawPath: WEBHOOK_PATH,
    requestContext: { http: { method: "POST", path: WEBHOOK_PATH } },
    headers: delivery.headers,
    body: delivery.body,
    isBase64Encoded: false,
  };
  const { result, output } = await invokeBundledHandler(
    bundle,
    event,
    {
      HOME: work,
      // The SDK's default chain would read these (profile `default`); the bundle must not.
      AWS_SHARED_CREDENTIALS_FILE: join(work, "credentials"),
      AWS_CONFIG_FILE: join(work, "config-absent"),
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_REGION: "us-east-1",
      AWS_ENDPOINT_URL: proxyEndpoint,
      AWS_LAMBDA_FUNCTION_NAME: "spacelift-role-vending-test-receiver",
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      POWERTOOLS_METRICS_DISABLED: "true",
      POWERTOOLS_LOG_LEVEL: "ERROR",
      SPACELIFT_HOSTNAME: SPACELIFT_HOST,
      QUEUE_URL: queueUrl,
      WEBHOOK_SECRET_PARAMETER: SECRET_PARAMETER,
      PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: String(extension.port),
      ...credentials,
    },
    options,
  );
  return { statusCode: (result as { statusCode: number }).statusCode, output };
}

async function queuedStacks(): Promise<string[]> {
  const received = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }),
  );
  return (received.Messages ?? []).map(
    (message) =>
      (JSON.parse(decodeQueueMessage(message.Body ?? "{}")) as { data?: { ID?: string } }).data
        ?.ID ?? "",
  );
}

const accessKeyOf = (authorization: string) => /Credential=([^/]+)\//.exec(authorization)?.[1];

describe("the bundled receiver's AWS credentials", () => {
  it("does not carry the SDK's default credential chain or its STS/SSO clients", () => {
    const inputs = Object.keys(metafile.inputs);

    expect(inputs.some((path) => path.endsWith("lambda-credential-provider.ts"))).toBe(true);
    expect(
      inputs.filter((path) =>
        /@aws-sdk\/(credential-provider-(node|ini|sso|process|web-identity|login)|nested-clients|token-providers)\/|@smithy\/credential-provider-imds\//.test(
          path,
        ),
      ),
    ).toEqual([]);
  });

  it("does not carry the permissions file parser (yaml)", () => {
    expect(
      Object.keys(metafile.inputs).filter((path) => /node_modules\/yaml\//.test(path)),
    ).toEqual([]);
  });

  it("loads no SSM client at a cold start: the secret comes through the Parameters and Secrets extension", () => {
    // What made it into the outputs a cold start loads, not what esbuild read and then shook
    // off; the SSM client of the fallback is in a chunk of its own (bundle-contents.test.ts).
    const bundled = [...bundledInputs(metafile, startupOutputs(metafile, bundle)).keys()];

    expect(bundled.some((path) => path.includes("node_modules/@aws-sdk/client-sqs/"))).toBe(true);
    expect(bundled.filter((path) => path.includes("node_modules/@aws-sdk/client-ssm/"))).toEqual(
      [],
    );
  });

  it("signs its SQS request with the execution role's credentials from the environment", async () => {
    const { statusCode } = await invokeBundledReceiver(
      {
        AWS_ACCESS_KEY_ID: ROLE_KEYS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: ROLE_KEYS.secretAccessKey,
        AWS_SESSION_TOKEN: ROLE_KEYS.sessionToken,
      },
      "env-credentials",
    );

    expect(statusCode).toBe(202);
    expect(signed.map((request) => request.target)).toEqual(["AmazonSQS.SendMessage"]);
    expect(extension.requests).toEqual([
      { name: SECRET_PARAMETER, withDecryption: "true", token: ROLE_KEYS.sessionToken },
    ]);
    for (const request of signed) {
      expect(accessKeyOf(request.authorization)).toBe(ROLE_KEYS.accessKeyId);
      expect(request.securityToken).toBe(ROLE_KEYS.sessionToken);
    }
    expect(await queuedStacks()).toEqual(["env-credentials"]);
  });

  it("asks the extension nothing while it is imported (INIT), only once it is invoked", async () => {
    // The extension answers only in the INVOKE phase; a request made at import would fail.
    const { statusCode, output } = await invokeBundledReceiver(
      {
        AWS_ACCESS_KEY_ID: ROLE_KEYS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: ROLE_KEYS.secretAccessKey,
        AWS_SESSION_TOKEN: ROLE_KEYS.sessionToken,
      },
      "init-phase",
      {
        afterImport: `console.log("REQUESTS_AFTER_IMPORT " + (await (await fetch("http://127.0.0.1:${extension.port}/__requests")).text()));`,
      },
    );

    expect(output).toContain("REQUESTS_AFTER_IMPORT 0");
    expect(statusCode).toBe(202);
    expect(extension.requests.map((request) => request.name)).toEqual([SECRET_PARAMETER]);
    expect(await queuedStacks()).toEqual(["init-phase"]);
  });

  it.each([400, 503])(
    "reads the secret with SSM itself, signed as the role, when the extension answers %i",
    async (status) => {
      extension.failWith = status;
      let result: { statusCode: number; output: string };
      try {
        result = await invokeBundledReceiver(
          {
            AWS_ACCESS_KEY_ID: ROLE_KEYS.accessKeyId,
            AWS_SECRET_ACCESS_KEY: ROLE_KEYS.secretAccessKey,
            AWS_SESSION_TOKEN: ROLE_KEYS.sessionToken,
          },
          `fallback-${status}`,
        );
      } finally {
        extension.failWith = undefined;
      }

      expect(result.statusCode).toBe(202);
      expect(extension.requests.map((request) => request.name)).toEqual([SECRET_PARAMETER]);
      expect(signed.map((request) => request.target)).toEqual([
        "AmazonSSM.GetParameter",
        "AmazonSQS.SendMessage",
      ]);
      for (const request of signed) {
        expect(accessKeyOf(request.authorization)).toBe(ROLE_KEYS.accessKeyId);
      }
      expect(await queuedStacks()).toEqual([`fallback-${status}`]);
    },
  );

  it("without them, signs with the container credentials endpoint's credentials", async () => {
    const { statusCode } = await invokeBundledReceiver(
      {
        AWS_CONTAINER_CREDENTIALS_FULL_URI: containerUrl,
        AWS_CONTAINER_AUTHORIZATION_TOKEN: "container-authorization-token",
        // Lambda always sets it; alone (no key pair) it gives the environment no credentials.
        AWS_SESSION_TOKEN: ROLE_KEYS.sessionToken,
      },
      "container-credentials",
    );

    expect(statusCode).toBe(202);
    expect(containerAuthorizations[0]).toBe("container-authorization-token");
    expect(signed.map((request) => accessKeyOf(request.authorization))).toEqual([
      CONTAINER_KEYS.accessKeyId,
    ]);
    expect(signed.map((request) => request.securityToken)).toEqual([CONTAINER_KEYS.sessionToken]);
    expect(await queuedStacks()).toEqual(["container-credentials"]);
  });

  it("with neither, answers 503, sends nothing and logs why, ignoring the shared credentials file", async () => {
    const { statusCode, output } = await invokeBundledReceiver(
      { AWS_SESSION_TOKEN: ROLE_KEYS.sessionToken },
      "no-credentials",
    );

    expect(statusCode).toBe(503);
    expect(signed).toEqual([]);
    expect(output).toContain("no AWS credentials");
    expect(output).not.toContain(PROFILE_KEY);
    expect(await queuedStacks()).toEqual([]);
  });
});
