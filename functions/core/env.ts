/**
 * Reading environment variables into validated, typed configuration, and the Spacelift
 * account settings every function needs. Kept apart from config.ts so that the receiver,
 * which needs only these, never loads the permissions file's parser (`yaml`) into its bundle.
 */
import * as z from "zod/mini";
import { ConfigurationError } from "./errors.ts";
import { isSpaceId, type SpaceId } from "./identifiers.ts";
import "./zod-locale.ts";

export type Env = Readonly<Record<string, string | undefined>>;

const HOSTNAME = /^[a-z0-9][a-z0-9-]{0,62}(\.[a-z0-9][a-z0-9-]{0,62})+$/;

const nonEmpty = (value: string | undefined) =>
  value === undefined || value.trim() === "" ? undefined : value.trim();

/** The variables naming the Spacelift account; spread into every function's schema that needs them. */
export const SPACELIFT_ACCOUNT_ENV = {
  SPACELIFT_HOSTNAME: z
    .string()
    .check(z.regex(HOSTNAME, "must be a hostname like acme.app.spacelift.io")),
  DEFAULT_SPACE_ID: z.pipe(
    z._default(z.string(), "root"),
    z.custom<SpaceId>(isSpaceId, "must be a Spacelift space ID"),
  ),
};

const SpaceliftAccount = z.object(SPACELIFT_ACCOUNT_ENV);

export interface SpaceliftAccountConfig {
  /** e.g. `acme.app.spacelift.io`. */
  readonly spaceliftHostname: string;
  /** The account name webhooks carry: the hostname's first label, e.g. `acme`. */
  readonly spaceliftAccount: string;
  /** Space a stack belongs to when an event does not name one. */
  readonly defaultSpaceId: SpaceId;
}

/** Validates an env-like record against a zod object schema, naming the first bad variable. */
export function parseEnv<T extends z.ZodMiniType>(schema: T, env: Env): z.output<T> {
  const cleaned = Object.fromEntries(
    Object.entries(env).map(([key, value]) => [key, nonEmpty(value)]),
  );
  // Parsed once per container: zod's JIT would compile a parser (new Function) for one use,
  // which costs more at a cold start than it saves.
  const parsed = schema.safeParse(cleaned, { jitless: true });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = issue?.path.join(".") ?? "environment";
    throw new ConfigurationError(
      `invalid configuration: ${variable}: ${issue?.message ?? "invalid"}`,
    );
  }
  return parsed.data;
}

/** The account name a hostname stands for (`acme.app.spacelift.io` → `acme`). */
export function accountOfHostname(hostname: string): string {
  return hostname.split(".")[0] ?? hostname;
}

/** Reads SPACELIFT_HOSTNAME and DEFAULT_SPACE_ID: all the receiver needs of the account. */
export function loadSpaceliftAccount(env: Env): SpaceliftAccountConfig {
  const raw = parseEnv(SpaceliftAccount, env);
  return {
    spaceliftHostname: raw.SPACELIFT_HOSTNAME,
    spaceliftAccount: accountOfHostname(raw.SPACELIFT_HOSTNAME),
    defaultSpaceId: raw.DEFAULT_SPACE_ID,
  };
}
