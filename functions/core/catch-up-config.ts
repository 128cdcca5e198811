/**
 * The catch-up's configuration, read once from the environment: the account, where its
 * checkpoint and the queue are, the Spacelift API key (as the reconciler reads it) and how far
 * back each run reads.
 */
import * as z from "zod/mini";
import { type CatchUpSettings, DEFAULT_CATCH_UP_SETTINGS } from "./catch-up.ts";
import { loadLedgerTable } from "./config.ts";
import { type Env, loadSpaceliftAccount, parseEnv, type SpaceliftAccountConfig } from "./env.ts";
import { loadReconcilerConfig } from "./reconcile/settings.ts";
import "./zod-locale.ts";

const CatchUp = z.object({
  QUEUE_URL: z.url("must be the SQS queue URL"),
  CATCH_UP_INITIAL_WINDOW_MINUTES: z._default(
    z.coerce.number().check(z.int(), z.minimum(1), z.maximum(7 * 24 * 60)),
    DEFAULT_CATCH_UP_SETTINGS.initialWindowMs / 60_000,
  ),
  CATCH_UP_OVERLAP_SECONDS: z._default(
    z.coerce.number().check(z.int(), z.minimum(0), z.maximum(3600)),
    DEFAULT_CATCH_UP_SETTINGS.overlapMs / 1000,
  ),
  CATCH_UP_MAX_RESOURCES_PER_RUN: z._default(
    z.coerce.number().check(z.int(), z.minimum(1), z.maximum(10_000)),
    DEFAULT_CATCH_UP_SETTINGS.maxResourcesPerRun,
  ),
});

export interface CatchUpConfig {
  readonly account: SpaceliftAccountConfig;
  readonly queueUrl: string;
  readonly ledgerTable: string;
  /** SecureString parameter holding the Spacelift API key; undefined: the catch-up cannot run. */
  readonly apiKeyParameter: string | undefined;
  /** Spacelift's GraphQL endpoint; undefined: `https://<SPACELIFT_HOSTNAME>/graphql`. */
  readonly spaceliftEndpoint: string | undefined;
  readonly settings: CatchUpSettings;
}

export function loadCatchUpConfig(env: Env): CatchUpConfig {
  const raw = parseEnv(CatchUp, env);
  const spacelift = loadReconcilerConfig(env);
  return {
    account: loadSpaceliftAccount(env),
    queueUrl: raw.QUEUE_URL,
    ledgerTable: loadLedgerTable(env),
    apiKeyParameter: spacelift.apiKeyParameter,
    spaceliftEndpoint: spacelift.spaceliftEndpoint,
    settings: {
      ...DEFAULT_CATCH_UP_SETTINGS,
      initialWindowMs: raw.CATCH_UP_INITIAL_WINDOW_MINUTES * 60_000,
      overlapMs: raw.CATCH_UP_OVERLAP_SECONDS * 1000,
      maxResourcesPerRun: raw.CATCH_UP_MAX_RESOURCES_PER_RUN,
    },
  };
}
