/**
 * Issue 14, goal 6: a reconcile never undoes a newer webhook. Spacelift is changed while a pass
 * runs (from inside the fake's handler, once the listing is served), then the change's own
 * webhook is delivered. The reconciler's plan (read off moto's FIFO queue) and the webhook are
 * applied through the provisioner's processQueueMessage in both orders; the end state is the
 * webhook's either way, for roles and parameters alike.
 */
import { ListTagsForResourceCommand } from "@aws-sdk/client-ssm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { processQueueMessage } from "../../../functions/core/process-queue-message.ts";
import { encodeQueueMessage } from "../../../functions/core/queue-message.ts";
import { reconcile } from "../../../functions/core/reconcile/pass.ts";
import type { QueuedMessage } from "../../../testkit/fakes/plan-queue.ts";
import {
  type Harness,
  PRODUCTION,
  READ_ONLY,
  readResource,
  spaceliftRunMayAssume,
  startHarness,
} from "../../../testkit/reconcile-harness.ts";
import { auditEvent, type ResourceAction } from "../../../testkit/spacelift/events.ts";

const DEPLOY = "arn:aws:iam::aws:policy/PowerUserAccess";
/** The label `deploy` grants PowerUserAccess: a label removed in Spacelift must take it away. */
const ENV = {
  DEFAULT_POLICY_ARNS: undefined,
  PERMISSIONS_CONFIG: JSON.stringify({
    default: { managedPolicyArns: [READ_ONLY] },
    labels: { deploy: { managedPolicyArns: [DEPLOY] } },
  }),
};
const ORDERS = ["the reconciler's message first", "the webhook first"] as const;

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.stop();
});

beforeEach(async () => {
  await h.reset();
  h.spacelift.state.addSpace({
    id: PRODUCTION,
    name: "production",
    parentSpace: "root",
    labels: [],
  });
});

/** Everything the reconciler enqueued, taken off moto's queue in its order. */
async function takeAll(): Promise<QueuedMessage[]> {
  const taken: QueuedMessage[] = [];
  for (let batch = await h.queue.take(); batch.length > 0; batch = await h.queue.take()) {
    taken.push(...batch);
  }
  return taken;
}

/** A webhook delivery as the receiver enqueues it, dated now (after the listing). */
function webhook(
  action: ResourceAction,
  options: { stack: string; space?: string; labels?: string[] },
) {
  return encodeQueueMessage(
    JSON.stringify(auditEvent(action, { account: "acme", ...options, timestamp: Date.now() })),
  );
}

/** Plans a pass while `change` happens in Spacelift after the listing, then applies in `order`. */
async function runWithChange(
  change: () => void,
  delivered: () => string,
  order: (typeof ORDERS)[number],
) {
  h.spacelift.afterAnswer = (operation) => {
    if (operation !== "searchStacks") return;
    h.spacelift.afterAnswer = undefined;
    change();
  };
  const report = await reconcile(await h.deps({ env: ENV }));
  const provisioner = await h.provisionerDeps({ env: ENV });
  const planned = (await takeAll()).map(({ body }) => body);
  const hook = delivered();
  const messages = order === ORDERS[0] ? [...planned, hook] : [hook, ...planned];
  const outcomes = [];
  for (const message of messages) outcomes.push(await processQueueMessage(message, provisioner));
  return { report, outcomes };
}

describe("a change made in Spacelift while a reconcile runs", () => {
  it.each(ORDERS)(
    "a stack moved, its label removed: the role trusts the new space and loses the label's policy, its parameter is tagged with the new space (%s)",
    async (order) => {
      h.spacelift.state.addStack({ id: "payments-api", space: "root", labels: ["deploy"] });

      const { report } = await runWithChange(
        () => h.spacelift.state.addStack({ id: "payments-api", space: PRODUCTION, labels: [] }),
        () => webhook("stack.update", { stack: "payments-api", space: PRODUCTION, labels: [] }),
        order,
      );

      expect(report.decisions.map(({ resource, outcome }) => `${resource} ${outcome}`)).toContain(
        "stack:payments-api enqueued",
      );
      const { roles, parameters } = await readResource(h, "stack", "payments-api");
      expect(roles).toHaveLength(1);
      const [role] = roles;
      expect(role?.policies).toEqual([READ_ONLY]);
      expect(role?.tags["spacelift:space"]).toBe(PRODUCTION);
      expect(
        spaceliftRunMayAssume(role?.trustPolicy ?? {}, {
          stackId: "payments-api",
          spaceId: PRODUCTION,
        }),
      ).toBe(true);
      expect(
        spaceliftRunMayAssume(role?.trustPolicy ?? {}, {
          stackId: "payments-api",
          spaceId: "root",
        }),
      ).toBe(false);
      const [parameter] = Object.keys(parameters);
      expect(Object.values(parameters)).toEqual([role?.arn]);
      const { TagList } = await h.ssm.send(
        new ListTagsForResourceCommand({ ResourceType: "Parameter", ResourceId: parameter }),
      );
      expect(TagList).toContainEqual({ Key: "spacelift:space", Value: PRODUCTION });
    },
  );

  it.each(ORDERS)(
    "a stack deleted: no role and no role-arn parameter are left (%s)",
    async (order) => {
      h.spacelift.state.addStack({ id: "doomed", space: PRODUCTION, labels: ["deploy"] });

      const { report } = await runWithChange(
        () => h.spacelift.state.removeStack("doomed"),
        () => webhook("stack.delete", { stack: "doomed" }),
        order,
      );

      expect(report.decisions.map(({ resource, outcome }) => `${resource} ${outcome}`)).toContain(
        "stack:doomed enqueued",
      );
      expect(await readResource(h, "stack", "doomed")).toEqual({ roles: [], parameters: {} });
    },
  );
});
