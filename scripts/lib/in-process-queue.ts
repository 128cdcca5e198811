/**
 * `npm run reconcile -- --apply`: the event queue and the provisioner in one process. What the
 * reconciler plans is applied at once, through the provisioner's own processQueueMessage (as
 * the deployed provisioner reads it off SQS), each message group in order and groups side by
 * side. A message that fails (an AWS error the queue would retry) fails the enqueue, so the
 * plan's decisions read failed and the next run plans them again.
 */
import { PlanEnqueueError } from "../../functions/core/errors.ts";
import type { PlannedMessage, PlanQueue } from "../../functions/core/ports.ts";
import {
  processQueueMessage,
  type QueueMessageOutcome,
} from "../../functions/core/process-queue-message.ts";
import type { ProvisionerDeps } from "../../functions/core/provision.ts";
import { encodeQueueMessage, encodeReconcileOrder } from "../../functions/core/queue-message.ts";
import { describeError } from "../../functions/core/reconcile/describe-error.ts";
import { mapWithConcurrency } from "../../functions/core/reconcile/pool.ts";

export class InProcessQueue implements PlanQueue {
  /** What the provisioner made of each message applied so far. */
  readonly outcomes: QueueMessageOutcome[] = [];

  constructor(
    private readonly provisioner: ProvisionerDeps,
    private readonly concurrency: number,
  ) {}

  async enqueueBatch(messages: readonly PlannedMessage[]): Promise<{ readonly calls: number }> {
    const groups = new Map<string, string[]>();
    for (const message of messages) {
      const text =
        "order" in message ? encodeReconcileOrder(message.order) : encodeQueueMessage(message.body);
      groups.set(message.group, [...(groups.get(message.group) ?? []), text]);
    }
    const failures: string[] = [];
    await mapWithConcurrency([...groups], this.concurrency, async ([group, texts]) => {
      for (const text of texts) {
        try {
          this.outcomes.push(await processQueueMessage(text, this.provisioner));
        } catch (error) {
          // The queue would retry it, holding back the rest of its group.
          failures.push(`${group}: ${describeError(error)}`);
          return;
        }
      }
    });
    if (failures.length > 0) {
      throw new PlanEnqueueError(
        `${failures.length} planned messages failed when applied (${failures.join("; ")})`,
      );
    }
    return { calls: 0 };
  }
}
