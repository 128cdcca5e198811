/**
 * The receiver's own configuration: where events go and where the webhook secrets are. It
 * imports nothing of the provisioner's configuration (config.ts: permissions file, `yaml`),
 * so the receiver's bundle stays small and its cold start short.
 */
import * as z from "zod/mini";
import { type Env, parseEnv } from "./env.ts";
import "./zod-locale.ts";

const Receiver = z
  .object({
    QUEUE_URL: z.url("must be the SQS queue URL"),
    SPACELIFT_WEBHOOK_SECRET: z.optional(
      z.string().check(z.minLength(16, "must be at least 16 characters")),
    ),
    SPACELIFT_WEBHOOK_SECRET_PREVIOUS: z.optional(z.string().check(z.minLength(16))),
    WEBHOOK_SECRET_PARAMETER: z.optional(z.string().check(z.startsWith("/"))),
    WEBHOOK_SECRET_PREVIOUS_PARAMETER: z.optional(z.string().check(z.startsWith("/"))),
  })
  .check(
    z.refine(
      (value) =>
        value.SPACELIFT_WEBHOOK_SECRET !== undefined ||
        value.WEBHOOK_SECRET_PARAMETER !== undefined,
      {
        path: ["WEBHOOK_SECRET_PARAMETER"],
        message: "set it (AWS) or SPACELIFT_WEBHOOK_SECRET (local)",
      },
    ),
  );

export interface ReceiverConfig {
  readonly queueUrl: string;
  /** Where the webhook secret(s) come from; values, never logged. */
  readonly secrets:
    | { readonly source: "env"; readonly current: string; readonly previous: string | undefined }
    | { readonly source: "ssm"; readonly current: string; readonly previous: string | undefined };
}

export function loadReceiverConfig(env: Env): ReceiverConfig {
  const raw = parseEnv(Receiver, env);
  return {
    queueUrl: raw.QUEUE_URL,
    secrets:
      raw.WEBHOOK_SECRET_PARAMETER !== undefined
        ? {
            source: "ssm",
            current: raw.WEBHOOK_SECRET_PARAMETER,
            previous: raw.WEBHOOK_SECRET_PREVIOUS_PARAMETER,
          }
        : {
            source: "env",
            current: raw.SPACELIFT_WEBHOOK_SECRET as string,
            previous: raw.SPACELIFT_WEBHOOK_SECRET_PREVIOUS,
          },
  };
}
