/** The Spacelift webhook samples in test/fixtures/spacelift, as raw bodies and parsed JSON. */
import { readFileSync } from "node:fs";

export type FixtureName =
  | "stack.create"
  | "stack.update"
  | "stack.delete"
  | "space.create"
  | "space.delete"
  | "audit_trail_webhook.set"
  | "audit_trail_webhook.delete";

export function fixtureBody(name: FixtureName): string {
  return readFileSync(new URL(`../fixtures/spacelift/${name}.json`, import.meta.url), "utf8");
}

export function fixture(name: FixtureName): Record<string, unknown> & {
  data: Record<string, unknown>;
} {
  return JSON.parse(fixtureBody(name));
}

export const PRODUCTION_SPACE = "production-01HND497T9JKR76MR3KA2CDJHP";
export const STAGING_SPACE = "staging-01HND4B1Q0W5Z7YV3J6QG2X9TR";
export const DATA_SPACE = "data-platform-01HPE6H08F8HR8PJR78DPYR3TC";
