/**
 * Which of Spacelift's answers are retried, and after how long: the GraphQL envelope, the
 * classification of its `errors` (a stale token, throttling or a temporary failure, or final),
 * exponential backoff and `Retry-After`.
 */

import * as z from "zod/mini";
import "../core/zod-locale.ts";

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** A `Retry-After` above this is cut down to it: a reconciler run should not park for hours. */
const RETRY_AFTER_MAX_MS = 120_000;

export const envelopeSchema = z.object({
  data: z.optional(z.unknown()),
  errors: z.nullish(
    z.array(
      z.looseObject({
        message: z.string(),
        extensions: z.nullish(z.looseObject({ code: z.optional(z.unknown()) })),
      }),
    ),
  ),
});

type GraphqlError = NonNullable<z.infer<typeof envelopeSchema>["errors"]>[number];

/** Spacelift reports a missing, invalid or expired bearer token as a GraphQL error or a 401. */
const AUTH_ERROR = /unauthori[sz]ed|unauthenticated|expired|invalid token|forbidden/i;
/**
 * A GraphQL error a later attempt may not meet: throttling or a temporary server failure,
 * answered with HTTP 200 and an `errors` array instead of a 429/5xx. Spacelift does not
 * publish the wording, so both the conventional `extensions.code` values and the usual
 * message phrasings are read. Anything else in `errors` (a validation error, a missing
 * field, a refused key) is final and thrown at once: retrying it would only repeat it.
 */
const TRANSIENT_ERROR =
  /rate.?limit|too many requests|throttl|temporar(il)?y unavailable|try again later|timed? ?out|service unavailable/i;
const TRANSIENT_CODES = new Set([
  "RATE_LIMITED",
  "RATE_LIMIT_EXCEEDED",
  "TOO_MANY_REQUESTS",
  "THROTTLED",
  "SERVICE_UNAVAILABLE",
  "UNAVAILABLE",
  "TIMEOUT",
]);

/**
 * Whether an answer says the token was refused (HTTP 401, or an auth message among the
 * redacted `messages`), or that every one of its `errors` is throttling or a temporary failure.
 */
export function classifyGraphqlErrors(
  status: number,
  messages: readonly string[],
  errors: readonly GraphqlError[],
): { readonly unauthorized: boolean; readonly transient: boolean } {
  const unauthorized = status === 401 || messages.some((message) => AUTH_ERROR.test(message));
  const transient =
    !unauthorized &&
    errors.length > 0 &&
    errors.every(
      ({ message, extensions }) =>
        TRANSIENT_ERROR.test(message) ||
        (typeof extensions?.code === "string" && TRANSIENT_CODES.has(extensions.code)),
    );
  return { unauthorized, transient };
}

/** 500 ms, 1 s, 2 s, … capped at 30 s. */
export function backoffDelay(retry: number): number {
  return Math.min(BACKOFF_BASE_MS * 2 ** retry, BACKOFF_MAX_MS);
}

/**
 * `Retry-After` as delta-seconds or an HTTP date, in ms; undefined (back off instead) when
 * absent, unreadable or not in the future: `Date.parse` reads `-5` as a year, and a wait of 0
 * would retry at once, every time.
 */
export function retryAfterDelay(header: string | null, now: number): number | undefined {
  if (header === null || header.trim() === "") return undefined;
  const value = header.trim();
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value) - now;
  if (!Number.isFinite(ms) || ms <= 0) return undefined;
  return Math.min(ms, RETRY_AFTER_MAX_MS);
}
