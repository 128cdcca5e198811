/**
 * The few named errors of the product. HTTP-facing errors carry a status; only messages of
 * errors below 500 are ever shown to a caller.
 *
 * Every class spells its `name` out: the bundles are minified (serverless.yml), which renames
 * classes, so a name taken from the class itself (`new.target.name`) would not survive.
 */
import type { CatchUpReport } from "./catch-up.ts";

export class HttpError extends Error {
  override readonly name: string = "HttpError";
  constructor(
    readonly statusCode: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The base of the errors that always answer `statusCode`: each takes a message and a cause. */
function withStatus(statusCode: number) {
  return class extends HttpError {
    constructor(message: string, options?: ErrorOptions) {
      super(statusCode, message, options);
    }
  };
}

/** 401: the body is not signed with a secret we know. */
export class SignatureError extends withStatus(401) {
  override readonly name = "SignatureError";
  constructor(message = "missing or invalid signature") {
    super(message);
  }
}

/** 400: the request can never succeed as sent (malformed JSON, missing or hostile identifiers). */
export class InvalidEventError extends withStatus(400) {
  override readonly name = "InvalidEventError";
}

/**
 * An action we act on whose identifier is in none of the places we look: Spacelift's payload
 * has drifted from the shapes we know. Not hostile (a present but invalid ID is an
 * InvalidEventError): the receiver accepts the delivery and the audit-trail catch-up converges it.
 */
export class MissingIdentifierError extends Error {
  override readonly name = "MissingIdentifierError";
}

/** 403: an event from a Spacelift account other than ours. */
export class ForeignAccountError extends withStatus(403) {
  override readonly name = "ForeignAccountError";
  constructor(account: string) {
    super(`events from Spacelift account "${account}" are not accepted here`);
  }
}

/**
 * 422: a signed event dated outside the window the receiver accepts: further in the future
 * than the clock skew allows, or older than the replay window. A captured signed body
 * re-sent later is refused here; Spacelift retries only 5xx, so this is never retried.
 */
export class EventOutsideWindowError extends withStatus(422) {
  override readonly name = "EventOutsideWindowError";
}

/** 413: body over the size limit. */
export class PayloadTooLargeError extends withStatus(413) {
  override readonly name = "PayloadTooLargeError";
  constructor(limit: number) {
    super(`body exceeds ${limit} bytes`);
  }
}

/** 503: the event could not be enqueued; a retry may succeed. */
export class EnqueueError extends withStatus(503) {
  override readonly name = "EnqueueError";
  constructor(options?: ErrorOptions) {
    super("event could not be enqueued", options);
  }
}

/** A queued event that can never be applied (retrying cannot help): logged and dropped. */
export class PermanentEventError extends Error {
  override readonly name: string = "PermanentEventError";
}

/** We refuse to touch an IAM role or parameter that this product did not create. */
export class ForeignResourceError extends PermanentEventError {
  override readonly name = "ForeignResourceError";
}

/** Configuration is missing or invalid: names the variable or path at fault. */
export class ConfigurationError extends Error {
  override readonly name = "ConfigurationError";
}

/** A generated policy or name would break an IAM or SSM limit, or would be unsafe. */
export class PolicyRenderError extends PermanentEventError {
  override readonly name: string = "PolicyRenderError";
}

/**
 * A trust policy that real IAM would refuse (MalformedPolicyDocument) or that breaks AWS's
 * guidance for OIDC trust; caught before it is sent. `rules` names every refusal found.
 */
export class TrustPolicyRejectedError extends PolicyRenderError {
  override readonly name = "TrustPolicyRejectedError";
  constructor(
    readonly rules: readonly string[],
    message: string,
  ) {
    super(message);
  }
}

/** The space already holds as many vended roles as MAX_ROLES_PER_SPACE allows: no role for the stack. */
export class SpaceRoleCapError extends PermanentEventError {
  override readonly name = "SpaceRoleCapError";
}

/**
 * The AWS account already holds as many roles as its IAM quota allows (`RolesQuota`): the role
 * is not created (AWS would refuse it with LimitExceeded), and the event is dropped.
 */
export class AccountRoleQuotaError extends PermanentEventError {
  override readonly name = "AccountRoleQuotaError";
}

/**
 * `defaultAccount: none` and no configured account's `spaces` match the resource's space: it
 * gets no role anywhere (labels never choose an account).
 */
export class AccountNotRoutedError extends PermanentEventError {
  override readonly name = "AccountNotRoutedError";
}

/**
 * A target account's vending role could not be assumed (throttled, denied, or STS down):
 * retried through the queue, and after the configured receives the event goes to the DLQ.
 */
export class AccountUnreachableError extends Error {
  override readonly name = "AccountUnreachableError";
  constructor(
    readonly accountId: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * The stack's variables could not be set through Spacelift's API after its role was applied
 * (the role and parameter stand): retried through the queue, never a reason to undo AWS.
 */
export class StackEnvironmentError extends Error {
  override readonly name = "StackEnvironmentError";
}

/** A role just created cannot be read yet (IAM is eventually consistent): the queue retries. */
export class NotYetReadableError extends Error {
  override readonly name = "NotYetReadableError";
}

/**
 * `{spacePath}` could not be resolved: a space on the way to the root has not been seen in a
 * `space.create`/`space.update` event yet. Retryable: it is usually an ordering gap (the space
 * event sits in another message group), and a role must never get a wider pattern instead.
 */
export class SpacePathUnknownError extends Error {
  override readonly name = "SpacePathUnknownError";
}

/** An AWS call failed for a reason the adapters do not translate into an outcome; `cause` is the SDK's error. */
export class AwsCallError extends Error {
  override readonly name = "AwsCallError";
}

/** Spacelift answered with GraphQL errors, an unexpected status or shape, or not at all. */
export class SpaceliftApiError extends Error {
  override readonly name = "SpaceliftApiError";
  /** The GraphQL operation that failed, e.g. `SearchStacks`. */
  readonly operation: string;
  /** HTTP status of the last answer, when there was one. */
  readonly status: number | undefined;
  /** Messages of the GraphQL `errors` array, when there was one. */
  readonly graphqlErrors: readonly string[];

  constructor(
    message: string,
    details: {
      operation: string;
      status?: number | undefined;
      graphqlErrors?: readonly string[];
      cause?: unknown;
    },
  ) {
    super(
      `Spacelift ${details.operation}: ${message}`,
      details.cause === undefined ? undefined : { cause: details.cause },
    );
    this.operation = details.operation;
    this.status = details.status;
    this.graphqlErrors = details.graphqlErrors ?? [];
  }
}

/**
 * An audit-trail catch-up run that failed part-way (a lookup or an enqueue): the checkpoint was
 * left after the last change enqueued, so the next run reads the rest again. `report` says what
 * was done before the failure.
 */
export class CatchUpIncompleteError extends Error {
  override readonly name = "CatchUpIncompleteError";
  constructor(
    message: string,
    readonly report: CatchUpReport,
    options: { cause: unknown },
  ) {
    super(message, options);
  }
}

/** A reconcile run where a decision failed or a safety rule refused to act: the invocation fails. */
export class ReconcileIncompleteError extends Error {
  override readonly name = "ReconcileIncompleteError";
}

/** The reconciler's backfill: Spacelift could not be read, so there is nothing to backfill from. */
export class SpaceliftUnavailableError extends Error {
  override readonly name = "SpaceliftUnavailableError";
}

/** A message in the reconcile order's envelope that is not a valid order: logged and dropped. */
export class InvalidReconcileOrderError extends PermanentEventError {
  override readonly name = "InvalidReconcileOrderError";
}

/** Some of a plan's messages could not be sent to the event queue, even after retrying them. */
export class PlanEnqueueError extends Error {
  override readonly name = "PlanEnqueueError";
}

/** A reconcile order that what is true now forbids (a delete before the grace period is over). */
export class OrderRefusedError extends PermanentEventError {
  override readonly name = "OrderRefusedError";
}
