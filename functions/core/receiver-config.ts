/**
 * The receiver's own configuration: where events go and where the webhook secrets are. It
 * imports nothing of the provisioner's configuration (config.ts: permissions file, `yaml`),
 * so the receiver's bundle stays small and its cold start short. In AWS the secrets are read
 * through the Parameters and Secrets Lambda extension, so the receiver bundles no SSM client.
 */
import * as z from "zod/mini";
import {
  DEFAULT_EVENT_MAX_AGE_SECONDS,
  EVENT_CLOCK_SKEW_MS,
  type EventWindow,
  MAX_EVENT_MAX_AGE_SECONDS,
} from "./audit-event.ts";
import { type Env, parseEnv } from "./env.ts";
import "./zod-locale.ts";

/** The shortest webhook secret accepted, from the environment or from its parameter. */
export const MIN_WEBHOOK_SECRET_LENGTH = 16;

const Receiver = z
  .object({
    QUEUE_URL: z.url("must be the SQS queue URL"),
    SPACELIFT_WEBHOOK_SECRET: z.optional(
      z
        .string()
        .check(
          z.minLength(
            MIN_WEBHOOK_SECRET_LENGTH,
            `must be at least ${MIN_WEBHOOK_SECRET_LENGTH} characters`,
          ),
        ),
    ),
    SPACELIFT_WEBHOOK_SECRET_PREVIOUS: z.optional(
      z.string().check(z.minLength(MIN_WEBHOOK_SECRET_LENGTH)),
    ),
    WEBHOOK_SECRET_PARAMETER: z.optional(z.string().check(z.startsWith("/"))),
    WEBHOOK_SECRET_PREVIOUS_PARAMETER: z.optional(z.string().check(z.startsWith("/"))),
    // The Parameters and Secrets extension's port (it reads the same variable) and the token it
    // requires: the execution role's session token, which Lambda always sets.
    PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: z._default(
      z.coerce.number().check(z.int(), z.minimum(1), z.maximum(65535)),
      2773,
    ),
    AWS_SESSION_TOKEN: z.optional(z.string()),
    // The replay window: how old (seconds) a signed event may be and still be accepted.
    EVENT_MAX_AGE_SECONDS: z._default(
      z.coerce.number().check(z.int(), z.minimum(60), z.maximum(MAX_EVENT_MAX_AGE_SECONDS)),
      DEFAULT_EVENT_MAX_AGE_SECONDS,
    ),
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
    z.refine(
      (value) =>
        value.WEBHOOK_SECRET_PARAMETER === undefined || value.AWS_SESSION_TOKEN !== undefined,
      {
        path: ["AWS_SESSION_TOKEN"],
        message:
          "the Parameters and Secrets extension requires the execution role's session token (Lambda sets it)",
      },
    ),
  );

export interface ReceiverConfig {
  readonly queueUrl: string;
  /** The dates of events the receiver accepts (replay window and clock skew). */
  readonly eventWindow: EventWindow;
  /** Where the webhook secret(s) come from; values, never logged. */
  readonly secrets:
    | { readonly source: "env"; readonly current: string; readonly previous: string | undefined }
    | {
        /** SecureString parameters, read through the Parameters and Secrets Lambda extension. */
        readonly source: "extension";
        readonly current: string;
        readonly previous: string | undefined;
        readonly extension: { readonly port: number; readonly token: string };
      };
}

export function loadReceiverConfig(env: Env): ReceiverConfig {
  const raw = parseEnv(Receiver, env);
  return {
    queueUrl: raw.QUEUE_URL,
    eventWindow: { maxAgeMs: raw.EVENT_MAX_AGE_SECONDS * 1000, maxSkewMs: EVENT_CLOCK_SKEW_MS },
    secrets:
      raw.WEBHOOK_SECRET_PARAMETER !== undefined
        ? {
            source: "extension",
            current: raw.WEBHOOK_SECRET_PARAMETER,
            previous: raw.WEBHOOK_SECRET_PREVIOUS_PARAMETER,
            extension: {
              port: raw.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT,
              token: raw.AWS_SESSION_TOKEN as string,
            },
          }
        : {
            source: "env",
            current: raw.SPACELIFT_WEBHOOK_SECRET as string,
            previous: raw.SPACELIFT_WEBHOOK_SECRET_PREVIOUS,
          },
  };
}
