/**
 * The reconciler plans and the provisioner applies: the one way tests run a pass to its end
 * state. `planThenApply` runs the plan (a reconcile, a backfill), then hands every message the
 * event queue holds to the provisioner's own `processQueueMessage`, in the queue's order (so
 * in order within each message group), until the queue is empty. The queue is either moto's
 * SQS FIFO queue (`SqsQueueDrain`, what the deployed reconciler sends to) or an in-memory one
 * that stores each message in the form SqsEventQueue sends it (`InMemoryPlanQueue`).
 */
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { PlannedMessage, PlanQueue } from "../../functions/core/ports.ts";
import {
  processQueueMessage,
  type QueueMessageOutcome,
} from "../../functions/core/process-queue-message.ts";
import type { ProvisionerDeps } from "../../functions/core/provision.ts";
import { encodeQueueMessage, encodeReconcileOrder } from "../../functions/core/queue-message.ts";
import type { ReconcileReport } from "../../functions/core/reconcile/decisions.ts";
import { reconcile } from "../../functions/core/reconcile/pass.ts";
import type { ReconcilerDeps } from "../../functions/core/reconcile/pass-state.ts";

export type QueueMessageOutcomes = QueueMessageOutcome[];

/** A message as the provisioner receives it: its queue text and its FIFO group. */
export interface QueuedMessage {
  readonly body: string;
  readonly group: string;
}

/** A queue whose messages can be taken off in order (each taken once). */
export interface DrainableQueue {
  /** The next messages in the queue's order, removed from it; empty when there are none. */
  take(): Promise<readonly QueuedMessage[]>;
}

/** The event queue in memory; counts SendMessageBatch calls as SqsEventQueue makes them. */
export class InMemoryPlanQueue implements PlanQueue, DrainableQueue {
  readonly messages: QueuedMessage[] = [];
  calls = 0;

  async enqueueBatch(messages: readonly PlannedMessage[]): Promise<{ readonly calls: number }> {
    const calls = Math.ceil(messages.length / 10);
    this.calls += calls;
    for (const message of messages) {
      this.messages.push({
        body:
          "order" in message
            ? encodeReconcileOrder(message.order)
            : encodeQueueMessage(message.body),
        group: message.group,
      });
    }
    return { calls };
  }

  async take(): Promise<readonly QueuedMessage[]> {
    return this.messages.splice(0);
  }
}

/** moto's SQS FIFO queue, read as the Lambda poller would (then each message deleted). */
export class SqsQueueDrain implements DrainableQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async take(): Promise<readonly QueuedMessage[]> {
    const { Messages = [] } = await this.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ["MessageGroupId"],
      }),
    );
    if (Messages.length > 0) {
      await this.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: Messages.map(({ ReceiptHandle }, index) => ({
            Id: String(index),
            ReceiptHandle,
          })),
        }),
      );
    }
    return Messages.map(({ Body, Attributes }) => ({
      body: Body ?? "",
      group: Attributes?.MessageGroupId ?? "",
    }));
  }
}

/** Applies every message the queue holds, in its order, through processQueueMessage. */
export async function applyQueued(
  queue: DrainableQueue,
  provisioner: ProvisionerDeps,
): Promise<QueueMessageOutcome[]> {
  const outcomes: QueueMessageOutcome[] = [];
  for (let batch = await queue.take(); batch.length > 0; batch = await queue.take()) {
    for (const message of batch)
      outcomes.push(await processQueueMessage(message.body, provisioner));
  }
  return outcomes;
}

/** Runs the plan, then applies what it queued (see the module documentation). */
export async function planThenApply<Report>(
  plan: () => Promise<Report>,
  queue: DrainableQueue,
  provisioner: ProvisionerDeps,
): Promise<{ readonly report: Report; readonly applied: QueueMessageOutcome[] }> {
  const report = await plan();
  return { report, applied: await applyQueued(queue, provisioner) };
}

/**
 * A reconcile over in-memory deps (which must carry the ledger), then the provisioner, over
 * the same stores, ledger, space paths and per-space cap, applies what it queued.
 */
export async function reconcileThenApply(deps: ReconcilerDeps): Promise<ReconcileReport> {
  return (await reconcileThenApplyWithOutcomes(deps)).report;
}

/** Same, with what the provisioner made of each queued message. */
export async function reconcileThenApplyWithOutcomes(
  deps: ReconcilerDeps,
): Promise<{ readonly report: ReconcileReport; readonly applied: QueueMessageOutcome[] }> {
  const queue = new InMemoryPlanQueue();
  return planThenApply(() => reconcile({ ...deps, events: queue }), queue, provisionerFor(deps));
}

/** The provisioner's deps over the reconciler's stores, ledger and clock. */
export function provisionerFor(deps: ReconcilerDeps): ProvisionerDeps {
  if (deps.ledger === undefined) throw new Error("the provisioner needs the reconciler's ledger");
  return {
    config: deps.config,
    roles: deps.roles,
    parameters: deps.parameters,
    ledger: deps.ledger,
    ...(deps.spacePaths !== undefined && { spacePaths: deps.spacePaths }),
    ...(deps.spaceRoleCap !== undefined && { spaceRoleCap: deps.spaceRoleCap }),
    orphanGracePeriodHours: deps.settings.orphanGracePeriodHours,
    now: deps.now,
    sleep: deps.sleep,
  };
}
