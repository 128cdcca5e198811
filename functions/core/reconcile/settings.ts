/**
 * The reconciler's configuration, read once from the environment: the per-run limits and the
 * way to Spacelift's API. The CLI's overrides are checked against the same bounds.
 */
import * as z from "zod/mini";
import { parseEnv } from "../config.ts";
import "../zod-locale.ts";

export interface ReconcileSettings {
  /** Hours an orphaned role keeps existing (trust revoked) before it is deleted. */
  readonly orphanGracePeriodHours: number;
  /** Orphans deleted per run (role groups or stray parameters); the rest wait for a later run. */
  readonly maxDeletionsPerRun: number;
  /** Orphans whose trust is revoked per run; the rest wait for a later run. */
  readonly maxRevocationsPerRun: number;
  /** Resources converged at the same time; IAM's control plane throttles bursts. */
  readonly concurrency: number;
  /** Plan only: read everything, write nothing. */
  readonly dryRun: boolean;
}

export interface ReconcilerConfig {
  readonly settings: ReconcileSettings;
  /** SecureString parameter holding the Spacelift API key; undefined: run without Spacelift. */
  readonly apiKeyParameter: string | undefined;
  /** Spacelift's GraphQL endpoint; undefined: `https://<SPACELIFT_HOSTNAME>/graphql`. */
  readonly spaceliftEndpoint: string | undefined;
}

/** Allowed range of each numeric setting, whether set in the environment or on the CLI. */
export const SETTING_BOUNDS = {
  orphanGracePeriodHours: { min: 0, max: 8760 },
  maxDeletionsPerRun: { min: 0, max: 10_000 },
  maxRevocationsPerRun: { min: 0, max: 10_000 },
  concurrency: { min: 1, max: 32 },
} as const;

const flag = z.pipe(
  z._default(z.enum(["true", "false", "1", "0"]), "false"),
  z.transform((value) => value === "true" || value === "1"),
);

function count(bounds: { readonly min: number; readonly max: number }, fallback: number) {
  return z._default(
    z.coerce.number().check(z.int(), z.minimum(bounds.min), z.maximum(bounds.max)),
    fallback,
  );
}

const Reconciler = z.object({
  ORPHAN_GRACE_PERIOD_HOURS: z._default(
    z.coerce
      .number()
      .check(
        z.minimum(SETTING_BOUNDS.orphanGracePeriodHours.min),
        z.maximum(SETTING_BOUNDS.orphanGracePeriodHours.max),
      ),
    72,
  ),
  MAX_DELETIONS_PER_RUN: count(SETTING_BOUNDS.maxDeletionsPerRun, 20),
  MAX_REVOCATIONS_PER_RUN: count(SETTING_BOUNDS.maxRevocationsPerRun, 50),
  RECONCILE_CONCURRENCY: count(SETTING_BOUNDS.concurrency, 4),
  RECONCILE_DRY_RUN: flag,
  SPACELIFT_API_KEY_PARAMETER: z.optional(
    z.string().check(z.regex(/^\/[a-zA-Z0-9_.\-/]+$/, "must be an absolute SSM parameter name")),
  ),
  SPACELIFT_API_ENDPOINT: z.optional(
    z
      .url("must be a URL like https://acme.app.spacelift.io/graphql")
      .check(
        z.refine(
          isSafeApiEndpoint,
          "must be an https:// URL (the API key travels to it); http:// only to 127.0.0.1, [::1] or localhost",
        ),
      ),
  ),
});

/** Hosts that never leave the machine: the only ones the API key may reach over plain HTTP. */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "[::1]", "localhost"]);

/** The reconciler sends the Spacelift API key to this endpoint: https, or loopback http. */
function isSafeApiEndpoint(endpoint: string): boolean {
  const url = new URL(endpoint);
  if (url.protocol === "https:") return true;
  return url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname);
}

export function loadReconcilerConfig(env: Readonly<Record<string, string | undefined>>) {
  const raw = parseEnv(Reconciler, env);
  const config: ReconcilerConfig = {
    settings: {
      orphanGracePeriodHours: raw.ORPHAN_GRACE_PERIOD_HOURS,
      maxDeletionsPerRun: raw.MAX_DELETIONS_PER_RUN,
      maxRevocationsPerRun: raw.MAX_REVOCATIONS_PER_RUN,
      concurrency: raw.RECONCILE_CONCURRENCY,
      dryRun: raw.RECONCILE_DRY_RUN,
    },
    apiKeyParameter: raw.SPACELIFT_API_KEY_PARAMETER,
    spaceliftEndpoint: raw.SPACELIFT_API_ENDPOINT,
  };
  return config;
}

/** ORPHAN_GRACE_PERIOD_HOURS alone: the provisioner checks reconcile orders' deletions with it. */
export function loadOrphanGracePeriodHours(
  env: Readonly<Record<string, string | undefined>>,
): number {
  return parseEnv(z.pick(Reconciler, { ORPHAN_GRACE_PERIOD_HOURS: true }), env)
    .ORPHAN_GRACE_PERIOD_HOURS;
}
