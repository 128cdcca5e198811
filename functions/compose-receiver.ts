/**
 * The receiver's wiring, apart from compose.ts: esbuild keeps the top-level statements of every
 * module a bundle imports (zod schemas are calls it cannot prove pure), so importing compose.ts
 * would put the provisioner's configuration — the permissions file parser and `yaml` — in the
 * receiver's bundle and its cold start.
 */
import { extensionWebhookSecrets } from "./adapters/parameters-extension-secrets.ts";
import { sqsClient } from "./adapters/sqs-client.ts";
import { SqsEventQueue } from "./adapters/sqs-event-queue.ts";
import { type Env, loadSpaceliftAccount } from "./core/env.ts";
import type { ReceiverDeps } from "./core/receive.ts";
import { loadReceiverConfig } from "./core/receiver-config.ts";

export function composeReceiver(env: Env): ReceiverDeps {
  const account = loadSpaceliftAccount(env);
  const receiver = loadReceiverConfig(env);
  const { secrets } = receiver;
  return {
    account: account.spaceliftAccount,
    defaultSpaceId: account.defaultSpaceId,
    queue: new SqsEventQueue(sqsClient(), receiver.queueUrl),
    now: Date.now,
    eventWindow: receiver.eventWindow,
    secrets:
      secrets.source === "env"
        ? async () => (secrets.previous ? [secrets.current, secrets.previous] : [secrets.current])
        : extensionWebhookSecrets(secrets.extension, secrets),
  };
}
