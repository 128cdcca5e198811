/**
 * Events the product writes itself, in the webhook's own form, for the provisioner to apply
 * through the same queue, ordering and ledger as Spacelift's deliveries:
 * - the reconciler, for a resource whose roles or parameters differ from what Spacelift lists
 *   (stamped with the time of the listing, so any webhook Spacelift dated later wins);
 * - the audit-trail catch-up, for an event the webhook never delivered (stamped with the audit
 *   entry's own time).
 *
 * Only the fields parseAuditEvent reads are written; `actor` names the writer, for the logs.
 * Nothing here is signed: these bodies go straight onto the queue, whose resource policy lets
 * only the product's own functions send (never the webhook's HTTP path).
 */
import { createHash } from "node:crypto";
import { resourceKey, type SpaceId, type StackId } from "./identifiers.ts";
import { messageGroupOf } from "./queue-message.ts";

/** Who wrote a synthesized event; it becomes the event's `actor`. */
export type EventSource = "reconciler" | "catch-up";

/** A stack as Spacelift's API describes it now. */
export interface ListedStackState {
  readonly stackId: StackId;
  readonly spaceId: SpaceId;
  readonly labels: readonly string[];
}

/** A space as Spacelift's API describes it now. */
export interface ListedSpaceState {
  readonly spaceId: SpaceId;
  readonly name?: string | undefined;
  readonly parentSpaceId?: SpaceId | undefined;
  readonly labels?: readonly string[] | undefined;
}

export type SynthesizedChange =
  | { readonly kind: "stack.update"; readonly stack: ListedStackState }
  | { readonly kind: "stack.delete"; readonly stackId: StackId }
  | { readonly kind: "space.update"; readonly space: ListedSpaceState }
  | { readonly kind: "space.delete"; readonly spaceId: SpaceId };

/** The webhook body of a synthesized event, as parseAuditEvent reads Spacelift's own. */
export function synthesizedEventBody(
  change: SynthesizedChange,
  meta: { readonly account: string; readonly timestamp: number; readonly source: EventSource },
): string {
  const envelope = {
    account: meta.account,
    action: change.kind,
    actor: `spacelift-role-vending::${meta.source}`,
    timestamp: meta.timestamp,
  };
  switch (change.kind) {
    case "stack.update":
      return JSON.stringify({
        ...envelope,
        data: {
          args: {
            ID: change.stack.stackId,
            Input: { Space: change.stack.spaceId, Labels: [...change.stack.labels] },
          },
        },
      });
    case "stack.delete":
      return JSON.stringify({ ...envelope, data: { args: { ID: change.stackId } } });
    case "space.update": {
      const { spaceId, name, parentSpaceId, labels } = change.space;
      return JSON.stringify({
        ...envelope,
        data: {
          args: {
            Space: spaceId,
            Input: {
              ...(name !== undefined && { Name: name }),
              ...(parentSpaceId !== undefined && { ParentSpace: parentSpaceId }),
              ...(labels !== undefined && { Labels: [...labels] }),
            },
          },
        },
      });
    }
    case "space.delete":
      return JSON.stringify({ ...envelope, data: { args: { Space: change.spaceId } } });
  }
}

/** The resource key (`stack:<id>` / `space:<id>`) a synthesized change is about. */
export function changedResource(change: SynthesizedChange): string {
  switch (change.kind) {
    case "stack.update":
      return resourceKey("stack", change.stack.stackId);
    case "stack.delete":
      return resourceKey("stack", change.stackId);
    case "space.update":
      return resourceKey("space", change.space.spaceId);
    case "space.delete":
      return resourceKey("space", change.spaceId);
  }
}

/**
 * The queue message of a synthesized event: the resource's own FIFO group (so it is serialised
 * with that resource's webhook events) and a deduplication ID that is the body's SHA-256, as
 * the receiver's (the same change written twice within SQS's 5-minute window is sent once).
 */
export function synthesizedMessage(
  change: SynthesizedChange,
  meta: { readonly account: string; readonly timestamp: number; readonly source: EventSource },
): { readonly body: string; readonly group: string; readonly deduplicationId: string } {
  const body = synthesizedEventBody(change, meta);
  return {
    body,
    group: messageGroupOf(changedResource(change)),
    deduplicationId: createHash("sha256").update(body).digest("hex"),
  };
}
