/**
 * The end-to-end harness: `npm start`'s program (scripts/local.ts, which starts moto_server,
 * the local pipeline of testkit/lambda/local-pipeline.ts and the target accounts of
 * testkit/aws/local-accounts.ts) in a child process, read through the banner it prints, fed
 * signed webhooks over HTTP or through `npm run send`'s program, and polled until a step's last
 * write lands. Plain functions returning handles with `close()`; no test framework here.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import type { SSMClient } from "@aws-sdk/client-ssm";
import { eventually, readParameter } from "./aws/clients.ts";
import { postDelivery, signedDelivery } from "./spacelift/events.ts";
import type { FakeSpaceliftServer } from "./spacelift/fake-spacelift.ts";
import { SPACELIFT_HOST } from "./spacelift/fixtures.ts";

export const E2E_WEBHOOK_SECRET = "e2e-webhook-secret-0123456789";

/** moto_server's start, the AWS setup and the handlers' first import, on a busy machine. */
const START_TIMEOUT_MS = 30_000;

export interface LocalRun {
  readonly child: ChildProcess;
  /** Everything the program wrote so far, stdout and stderr. */
  output(): string;
  /** The value the banner prints after `label:` ("" until it is printed). */
  read(label: string): string;
  /** The receiver's URL, the AWS endpoint and the dead-letter queue, from the banner. */
  readonly url: string;
  readonly endpoint: string;
  readonly deadLetterQueueUrl: string;
  /** Signs `payload` with `secret` (default: the run's) and posts it to the receiver. */
  send(payload: unknown, secret?: string): Promise<{ status: number; body: string }>;
  /** Stops the run as Ctrl-C does (SIGINT) and waits for it to exit; nothing if it has. */
  close(): Promise<void>;
}

export interface LocalRunOptions {
  /** Added to (and overriding) the harness's environment. */
  readonly env?: Record<string, string>;
  /** `npm start` as a developer or an IDE runs it, rather than the program itself. */
  readonly viaNpm?: boolean;
  /** STACK_ENVIRONMENT=true against this fake of Spacelift's API. */
  readonly spacelift?: FakeSpaceliftServer;
  /** Resolve when the program exits before its banner, rather than throw. */
  readonly mayExit?: boolean;
}

/**
 * Starts `npm start`'s program on a free port with its own moto_server (unless `env` names an
 * AWS_ENDPOINT_URL); resolves once it printed its banner. If it exits first, throws with its
 * output, or (`mayExit`) resolves with the exited run.
 */
export async function startLocalRun(options: LocalRunOptions = {}): Promise<LocalRun> {
  const [command, args] = options.viaNpm
    ? ["npm", ["start", "--silent"]]
    : [process.execPath, ["--import", "tsx", "scripts/local.ts"]];
  const secret = options.env?.SPACELIFT_WEBHOOK_SECRET ?? E2E_WEBHOOK_SECRET;
  const spacelift = options.spacelift;
  const child = spawn(command, args, {
    env: {
      ...process.env,
      AWS_ENDPOINT_URL: "",
      PORT: "0",
      SPACELIFT_HOSTNAME: SPACELIFT_HOST,
      SPACELIFT_WEBHOOK_SECRET: secret,
      ...(spacelift !== undefined && {
        STACK_ENVIRONMENT: "true",
        SPACELIFT_API_ENDPOINT: spacelift.endpoint,
        SPACELIFT_API_KEY_ID: spacelift.apiKeyId,
        SPACELIFT_API_KEY_SECRET: spacelift.apiKeySecret,
      }),
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = collectOutput(child);
  const read = (label: string) => new RegExp(`${label}:\\s+(\\S+)`).exec(output())?.[1] ?? "";
  await eventually(
    async () => read("Dead letters"),
    (value) => value !== "" || child.exitCode !== null,
    START_TIMEOUT_MS,
  );
  if (child.exitCode !== null && !options.mayExit) {
    throw new Error(`npm start exited: ${output()}`);
  }
  const url = read("Receiver");
  return {
    child,
    output,
    read,
    url,
    endpoint: read("AWS endpoint"),
    deadLetterQueueUrl: read("Dead letters"),
    send: (payload, withSecret = secret) => postDelivery(url, signedDelivery(payload, withSecret)),
    close: () => stopChild(child),
  };
}

/** Everything `child` writes to stdout and stderr, read at any time. */
function collectOutput(child: ChildProcess): () => string {
  let output = "";
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  return () => output;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGINT");
  await exited;
}

/** `npm run send`'s program with these arguments and environment; its exit code and output. */
export async function runSend(
  args: readonly string[],
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/send.ts", ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = collectOutput(child);
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, output: output() };
}

/** Polls until the parameter `name` exists; returns it. */
export function waitForParameter(ssm: SSMClient, name: string) {
  return eventually(
    () => readParameter(ssm, name),
    (value) => value !== undefined,
  );
}

/**
 * Polls until the parameter `name` is gone. The provisioner deletes the role, then the
 * parameter: once the parameter is gone, both are. (Read while it is being deleted, its tags may
 * already be gone: not yet absent.)
 */
export async function waitForParameterGone(ssm: SSMClient, name: string): Promise<void> {
  await eventually(
    () => readParameter(ssm, name).catch(() => "being deleted"),
    (value) => value === undefined,
  );
}
