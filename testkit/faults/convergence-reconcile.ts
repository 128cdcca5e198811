/**
 * Reconcile passes in the convergence scenario (issue 14, goal 6: a reconcile never undoes a
 * newer webhook). The fake Spacelift follows the history: before a pass it holds what the
 * history says exists at that moment, and once the pass has read its listing (both stacks and
 * spaces answered) the history moves on by the pass's duration, so the events of that span
 * happen in Spacelift while the pass plans; their webhooks arrive later, as every webhook does.
 * The pass is the real `reconcile` over the product's SDK clients (faults included) and the
 * fake's GraphQL API; what it plans goes into the scenario's simulated FIFO queue, in the
 * resources' own groups, behind whatever those groups already hold.
 */
import { iamClient, ssmClient } from "../../functions/adapters/aws-clients.ts";
import { IamRoleStore } from "../../functions/adapters/iam-role-store.ts";
import { SsmParameterStore } from "../../functions/adapters/ssm-parameter-store.ts";
import type { VendingConfig } from "../../functions/core/config.ts";
import type { PlannedMessage, PlanQueue, ResourceLedger } from "../../functions/core/ports.ts";
import { encodeQueueMessage, encodeReconcileOrder } from "../../functions/core/queue-message.ts";
import type { ReconcileReport } from "../../functions/core/reconcile/decisions.ts";
import { reconcile } from "../../functions/core/reconcile/pass.ts";
import { SpaceliftGraphqlClient } from "../../functions/spacelift/graphql-client.ts";
import {
  type FakeSpaceliftServer,
  ROOT_SPACE,
  startFakeSpacelift,
} from "../spacelift/fake-spacelift.ts";

/** What one history event changed in Spacelift (absent: the resource was deleted). */
export type SpaceliftChange =
  | {
      readonly kind: "stack";
      readonly id: string;
      readonly stack?: { readonly space: string; readonly labels: readonly string[] };
    }
  | {
      readonly kind: "space";
      readonly id: string;
      readonly space?: { readonly labels: readonly string[] };
    };

/** An event of the history as far as Spacelift's state is concerned. */
export interface HistoryMoment {
  readonly timestamp: number;
  readonly change?: SpaceliftChange;
}

/** A simulated queue the plan can be put in: the scenario's SimulatedFifoQueue. */
export interface PlanSink {
  send(message: { body: string; group: string }): void;
}

/** The reconciler's PlanQueue over the simulated queue: each message in its own group. */
export class SimulatedPlanQueue implements PlanQueue {
  enqueued = 0;

  constructor(private readonly sink: PlanSink) {}

  async enqueueBatch(messages: readonly PlannedMessage[]): Promise<{ readonly calls: number }> {
    for (const message of messages) {
      this.sink.send({
        body:
          "order" in message
            ? encodeReconcileOrder(message.order)
            : encodeQueueMessage(message.body),
        group: message.group,
      });
    }
    this.enqueued += messages.length;
    return { calls: Math.ceil(messages.length / 10) };
  }
}

/** The history's clock and the Spacelift that follows it. */
export class SpaceliftFollowingHistory {
  /** Events of the history already applied to Spacelift (a prefix). */
  #applied = 0;
  /** The simulated time (ms) that the reconciler and the provisioner read. */
  now: number;

  private constructor(
    readonly spacelift: FakeSpaceliftServer,
    private readonly history: readonly HistoryMoment[],
  ) {
    this.now = (history[0]?.timestamp ?? 0) - 1;
  }

  static async start(history: readonly HistoryMoment[]): Promise<SpaceliftFollowingHistory> {
    return new SpaceliftFollowingHistory(await startFakeSpacelift(), history);
  }

  /** Events applied to Spacelift so far. */
  get applied(): number {
    return this.#applied;
  }

  /** Spacelift as of the history's first `count` events (never backwards); the clock follows. */
  advanceTo(count: number): void {
    const { state } = this.spacelift;
    for (; this.#applied < Math.min(count, this.history.length); this.#applied++) {
      const moment = this.history[this.#applied];
      const change = moment?.change;
      this.now = Math.max(this.now, (moment?.timestamp ?? 0) + 1);
      if (change === undefined) continue;
      if (change.kind === "stack") {
        if (change.stack === undefined) state.removeStack(change.id);
        else state.addStack({ id: change.id, ...change.stack, labels: [...change.stack.labels] });
      } else if (change.space === undefined) {
        state.removeSpace(change.id);
      } else {
        state.addSpace({
          id: change.id,
          name: change.id,
          parentSpace: ROOT_SPACE.id,
          labels: [...change.space.labels],
        });
      }
    }
  }

  /** Spacelift as of `until` (ms): every event dated before it has happened; the clock is there. */
  advanceUntil(until: number): void {
    let count = this.#applied;
    while (count < this.history.length && (this.history[count]?.timestamp ?? 0) < until) count++;
    this.advanceTo(count);
    this.now = Math.max(this.now, until);
  }

  close(): Promise<void> {
    return this.spacelift.close();
  }
}

export interface PassOptions {
  readonly config: VendingConfig;
  readonly ledger: ResourceLedger;
  readonly queue: SimulatedPlanQueue;
  /** Simulated time the pass takes once it has read its listing (ms). */
  readonly duration: number;
  readonly sleep: () => Promise<void>;
}

/**
 * One pass of the real reconciler against the fake Spacelift; Spacelift moves on by
 * `duration` once both listings are answered. Throws what the pass throws (a failed inventory).
 */
export async function runReconcilePass(
  world: SpaceliftFollowingHistory,
  options: PassOptions,
): Promise<ReconcileReport> {
  const { spacelift } = world;
  const client = new SpaceliftGraphqlClient({
    endpoint: spacelift.endpoint,
    apiKeyId: spacelift.apiKeyId,
    apiKeySecret: spacelift.apiKeySecret,
    sleep: async () => {},
  });
  const answered = new Set<string>();
  spacelift.afterAnswer = (operation) => {
    if (operation !== "searchStacks" && operation !== "spaces") return;
    answered.add(operation);
    if (answered.size < 2) return;
    spacelift.afterAnswer = undefined;
    world.advanceUntil(world.now + options.duration);
  };
  try {
    return await reconcile({
      config: options.config,
      settings: {
        orphanGracePeriodHours: 72,
        maxDeletionsPerRun: 20,
        maxRevocationsPerRun: 50,
        concurrency: 4,
        dryRun: false,
      },
      roles: new IamRoleStore(iamClient()),
      parameters: new SsmParameterStore(ssmClient()),
      ledger: options.ledger,
      events: options.queue,
      spacelift: async () => ({ available: true, directory: client }),
      now: () => new Date(world.now),
      sleep: options.sleep,
    });
  } finally {
    spacelift.afterAnswer = undefined;
  }
}
