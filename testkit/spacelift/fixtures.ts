/** The Spacelift webhook samples in testkit/spacelift/fixtures, as raw bodies and parsed JSON. */
import { readFileSync } from "node:fs";

export type FixtureName =
  | "stack.create"
  | "stack.update"
  | "stack.delete"
  | "space.create"
  | "space.delete"
  | "audit_trail_webhook.set"
  | "audit_trail_webhook.delete";

/**
 * A sample's raw body; with `timestamp`, re-dated (the text otherwise unchanged), since the
 * receiver refuses events outside its replay window and the samples carry 2025 dates.
 */
export function fixtureBody(name: FixtureName, timestamp?: number): string {
  const body = readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), "utf8");
  if (timestamp === undefined) return body;
  const redated = body.replace(/"timestamp": \d+/, `"timestamp": ${timestamp}`);
  if (redated === body) throw new Error(`fixture ${name} carries no timestamp to re-date`);
  return redated;
}

export function fixture(
  name: FixtureName,
  timestamp?: number,
): Record<string, unknown> & {
  data: Record<string, unknown>;
} {
  return JSON.parse(fixtureBody(name, timestamp));
}

export const PRODUCTION_SPACE = "production-01HND497T9JKR76MR3KA2CDJHP";
export const STAGING_SPACE = "staging-01HND4B1Q0W5Z7YV3J6QG2X9TR";
export const DATA_SPACE = "data-platform-01HPE6H08F8HR8PJR78DPYR3TC";

/** The Spacelift account's hostname the tests' configuration and webhooks use (account `acme`). */
export const SPACELIFT_HOST = "acme.app.spacelift.io";
