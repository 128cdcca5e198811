/**
 * Attack test: seeded histories of stack events over IDs chosen to collide (`a`, `a-read`,
 * `a-write`, `read`, `write`, two 128-character IDs that differ in their last character, a stack
 * whose role name someone else holds), moved between two spaces, deleted and re-created, each
 * event delivered once or twice in any order (Spacelift does not order its deliveries), with
 * faults before and after every IAM and space-count call (the queue redelivers, up to five
 * receives, then the dead-letter queue is redriven). In-memory stores, real core.
 *
 * Whatever the order and the faults, at the end: a deleted stack has no role; a live stack's
 * roles trust its last space (when its space has room); the role someone else holds is
 * untouched; no space counts more stacks than its cap; and every stack with a role is counted
 * in its role's space (so the cap cannot be bypassed). A stack counted without a role (a fault
 * between counting and the next step) is what the reconciler's count repair is for.
 */
import { describe, expect, it } from "vitest";
import { loadVendingConfig } from "../../../functions/core/config.ts";
import { processMessage } from "../../../functions/core/process-queue-message.ts";
import { MANAGED_BY_TAG, SPACE_TAG, STACK_TAG } from "../../../functions/core/role-ownership.ts";
import { InMemorySpaceQuota } from "../../../testkit/fakes/in-memory.ts";
import { inMemoryProvisionerDeps } from "../../../testkit/fakes/in-memory-provisioner.ts";
import { lcgNumericalRecipes } from "../../../testkit/random.ts";
import { auditEvent, type ResourceAction } from "../../../testkit/spacelift/events.ts";
import { SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const PROD = "production-01HND497T9JKR76MR3KA2CDJHP";
const STAGING = "staging-01HND4B1Q0W5Z7YV3J6QG2X9TR";
const SQUATTED = "squatted";
const IDS = [
  "a",
  "a-read",
  "a-write",
  "read",
  "write",
  "x".repeat(128),
  `${"x".repeat(127)}y`,
  SQUATTED,
];
const SEEDS = 120;

interface HistoryEvent {
  readonly action: ResourceAction;
  readonly stack: string;
  readonly space: string | undefined;
  readonly timestamp: number;
}

/** Each stack's events in Spacelift's order, and where each stack is at the end (undefined: deleted). */
function history(next: () => number) {
  let timestamp = 1_764_000_000_000;
  const events: HistoryEvent[] = [];
  const last = new Map<string, string | undefined>();
  for (const stack of IDS) {
    if (next() < 0.25) continue;
    let space = next() < 0.5 ? PROD : STAGING;
    let alive = false;
    for (let step = 1 + Math.floor(next() * 6); step > 0; step--) {
      timestamp += 1 + Math.floor(next() * 3);
      const roll = next();
      if (!alive) {
        events.push({ action: "stack.create", stack, space, timestamp });
        alive = true;
      } else if (roll < 0.4) {
        space = space === PROD ? STAGING : PROD;
        events.push({ action: "stack.update", stack, space, timestamp });
      } else if (roll < 0.6) {
        events.push({ action: "stack.update", stack, space: undefined, timestamp });
      } else if (roll < 0.8) {
        events.push({ action: "stack.delete", stack, space: undefined, timestamp });
        alive = false;
      } else {
        events.push({ action: "stack.update", stack, space, timestamp });
      }
    }
    last.set(stack, alive ? space : undefined);
  }
  return { events, last };
}

/** Makes the named methods fail now and then, before or after doing their work. */
function withFaults(target: object, methods: readonly string[], next: () => number) {
  const faults = { on: true };
  const methodsOf = target as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const name of methods) {
    const original = methodsOf[name]?.bind(target);
    if (original === undefined) throw new Error(`no method ${name}`);
    methodsOf[name] = async (...args) => {
      if (faults.on && next() < 0.08) throw new Error(`${name} failed before`);
      const result = await original(...args);
      if (faults.on && next() < 0.05) throw new Error(`${name} failed after`);
      return result;
    };
  }
  return faults;
}

describe("adversarial histories of stack events, delivered out of order with faults", () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    it(`seed ${seed}: no role outlives its stack, trusts another space, or escapes its space's count`, async () => {
      // Prepare
      const next = lcgNumericalRecipes(seed);
      // Half the seeds with a cap that histories of up to 7 stacks in 2 spaces reach. (Drawn from
      // the generator, it never was: its first draw for seeds 1-120 is always below 0.3.)
      const cap = seed % 2 === 0 ? 100 : 3;
      const quota = new InMemorySpaceQuota();
      const config = await loadVendingConfig({
        SPACELIFT_HOSTNAME: SPACELIFT_HOST,
        PERMISSIONS_BOUNDARY_ARN: "arn:aws:iam::123456789012:policy/spacelift-boundary",
        AWS_ACCOUNT_ID: "123456789012",
      });
      const { roles, deps } = inMemoryProvisionerDeps(config, {
        spaceRoleCap: { quota, maxRolesPerSpace: cap },
      });
      roles.seed({ name: `spacelift-stack-${SQUATTED}`, tags: { owner: "someone-else" } });
      const roleFaults = withFaults(
        roles,
        ["create", "delete", "describe", "attachPolicy", "detachPolicy", "tag", "untag"],
        next,
      );
      const quotaFaults = withFaults(quota, ["admit", "release"], next);
      const { events, last } = history(next);
      const queue = events
        .flatMap((event) => (next() < 0.3 ? [event, event] : [event]))
        .map((event) => ({ event, receives: 0 }));
      for (let i = queue.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [queue[i], queue[j]] = [
          queue[j] as (typeof queue)[number],
          queue[i] as (typeof queue)[number],
        ];
      }
      const deliver = (event: HistoryEvent) =>
        processMessage(
          JSON.stringify(
            auditEvent(event.action, {
              account: "acme",
              stack: event.stack,
              ...(event.space !== undefined && { space: event.space }),
              timestamp: event.timestamp,
            }),
          ),
          deps,
        );

      // Act: the queue redelivers a failed message later; after five receives it is dead-lettered.
      const deadLetters: HistoryEvent[] = [];
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
        try {
          await deliver(item.event);
        } catch {
          item.receives += 1;
          if (item.receives >= 5) deadLetters.push(item.event);
          else queue.splice(Math.floor(next() * (queue.length + 1)), 0, item);
        }
      }
      roleFaults.on = false;
      quotaFaults.on = false;
      for (const event of deadLetters) await deliver(event);

      // Assess
      const holders = new Map<string, Set<string>>();
      for (const role of roles.roles.values()) {
        const stack = role.tags[STACK_TAG];
        const space = role.tags[SPACE_TAG];
        if (role.tags[MANAGED_BY_TAG] === undefined || stack === undefined || space === undefined)
          continue;
        holders.set(stack, (holders.get(stack) ?? new Set()).add(space));
      }
      const context = JSON.stringify({ cap, events, holders: [...holders] });
      for (const [stack, space] of last) {
        const spaces = [...(holders.get(stack) ?? [])];
        if (space === undefined) expect(spaces, `${stack} was deleted: ${context}`).toEqual([]);
        else if (stack === SQUATTED) expect(spaces, context).toEqual([]);
        else if (cap === 100)
          expect(spaces, `${stack} lives in ${space}: ${context}`).toEqual([space]);
        else expect(spaces.length, context).toBeLessThanOrEqual(1);
      }
      expect(roles.roles.get(`spacelift-stack-${SQUATTED}`)?.tags).toEqual({
        owner: "someone-else",
      });
      for (const space of [PROD, STAGING]) {
        const counted = quota.counted(space);
        expect(counted.length, context).toBeLessThanOrEqual(cap);
        for (const [stack, spaces] of holders) {
          if (spaces.has(space))
            expect(counted, `${stack} in ${space}: ${context}`).toContain(stack);
        }
      }
    });
  }
});
