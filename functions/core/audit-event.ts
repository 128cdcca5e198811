/**
 * Spacelift audit-trail webhook payloads, parsed into the few events the product acts on.
 *
 * Only `stack.create` is confirmed by a published sample; the other shapes are inferred from
 * the GraphQL mutations' arguments, so the identifier is looked for wherever each shape may
 * carry it. Whatever is found is validated as a Spacelift slug before it goes anywhere.
 */
import * as z from "zod/mini";
import {
  EventOutsideWindowError,
  ForeignAccountError,
  InvalidEventError,
  MissingIdentifierError,
} from "./errors.ts";
import { isSpaceId, isStackId, resourceKey, type SpaceId, type StackId } from "./identifiers.ts";
import "./zod-locale.ts";

const Envelope = z.object({
  account: z.string().check(z.minLength(1), z.maxLength(128)),
  action: z.string().check(z.minLength(1), z.maxLength(128)),
  // actor (logged: cut to MAX_ACTOR_LENGTH), context and remoteIP (never used) are not bounded:
  // a long value (a forwarded-for chain as remoteIP) must not make a genuine event refused.
  actor: z.optional(z.string()),
  context: z.optional(z.looseObject({ mutation: z.optional(z.string()) })),
  data: z.nullish(z.record(z.string(), z.unknown())),
  remoteIP: z.optional(z.string()),
  timestamp: z.number().check(z.int(), z.nonnegative()),
});

/** How much of the actor is kept for the logs. */
const MAX_ACTOR_LENGTH = 512;

/** Run state-change payloads ("Include runs"): no `action`, but `run`, `state` and `stack`. */
const RunStatePayload = z.object({
  run: z.record(z.string(), z.unknown()),
  state: z.unknown(),
  stack: z.record(z.string(), z.unknown()),
});

const Labels = z.array(z.string()).check(z.maxLength(256));
/**
 * Longer labels are ignored, not refused: no allow-list rule can name one (permissions.ts takes
 * labels of at most 128 characters, 256 UTF-16 units), so it cannot change a role, whereas
 * refusing it made every event of a stack carrying one (a move included) answer 400 and be lost.
 */
const MAX_LABEL_LENGTH = 256;

interface EventMeta {
  readonly account: string;
  readonly actor: string | undefined;
  /** Spacelift's timestamp, in milliseconds. */
  readonly timestamp: number;
  readonly action: string;
}

export interface StackUpserted extends EventMeta {
  readonly type: "stack.upserted";
  readonly stackId: StackId;
  /** The stack's space; undefined when the event does not say (keep what is known). */
  readonly spaceId: SpaceId | undefined;
  /** The stack's labels; undefined when the event does not say (keep what is known). */
  readonly labels: readonly string[] | undefined;
}

export interface StackDeleted extends EventMeta {
  readonly type: "stack.deleted";
  readonly stackId: StackId;
}

export interface SpaceUpserted extends EventMeta {
  readonly type: "space.upserted";
  readonly spaceId: SpaceId;
  readonly name: string | undefined;
  readonly parentSpaceId: SpaceId | undefined;
  readonly labels: readonly string[] | undefined;
}

export interface SpaceDeleted extends EventMeta {
  readonly type: "space.deleted";
  readonly spaceId: SpaceId;
}

/** A valid delivery we do not act on; `alarm` marks the ones an operator must hear about. */
export interface IgnoredEvent {
  readonly type: "ignored";
  readonly account: string | undefined;
  readonly action: string;
  readonly reason: string;
  readonly alarm: boolean;
  /** Spacelift's timestamp (ms); undefined for run state payloads, which carry none. */
  readonly timestamp: number | undefined;
  /**
   * Set when the action is one we act on (`stack.*`, `space.*`) but its identifier is absent
   * from every place we look: Spacelift's payload has drifted from the shapes we know. The
   * body's shape (key paths and value types, never values) is kept for the log, so that we
   * learn the new shape; the audit-trail catch-up picks the change itself up.
   */
  readonly unidentified?: { readonly shape: Readonly<Record<string, string>> };
}

export type ResourceEvent = StackUpserted | StackDeleted | SpaceUpserted | SpaceDeleted;
export type AuditEvent = ResourceEvent | IgnoredEvent;

export interface ParseOptions {
  /** The space a stack lands in when `stack.create` names none (Spacelift's default). */
  readonly defaultSpaceId: SpaceId;
  /** The only Spacelift account whose events are accepted. */
  readonly account: string;
}

/** Parses a raw webhook body. Throws InvalidEventError for anything malformed or hostile. */
export function parseAuditEvent(body: string, options: ParseOptions): AuditEvent {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    throw new InvalidEventError("body is not valid JSON", { cause: error });
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new InvalidEventError("body is not a JSON object");
  }
  if (!("action" in json) && RunStatePayload.safeParse(json).success) {
    return {
      type: "ignored",
      account: undefined,
      action: "run.state",
      reason: "run state-change payload",
      alarm: false,
      timestamp: undefined,
    };
  }
  const parsed = Envelope.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join(".") || "body";
    throw new InvalidEventError(
      `not an audit-trail event: ${where}: ${issue?.message ?? "invalid"}`,
    );
  }
  const envelope = parsed.data;
  if (envelope.account !== options.account) throw new ForeignAccountError(envelope.account);
  const meta: EventMeta = {
    account: envelope.account,
    actor: envelope.actor?.slice(0, MAX_ACTOR_LENGTH),
    timestamp: envelope.timestamp,
    action: envelope.action,
  };
  const data = envelope.data ?? {};
  const args = record(data.args);
  const input = record(args.Input);
  try {
    return parseResourceEvent(envelope.action, meta, data, args, input, options);
  } catch (error) {
    if (!(error instanceof MissingIdentifierError)) throw error;
    return {
      type: "ignored",
      account: meta.account,
      action: meta.action,
      reason: error.message,
      alarm: false,
      timestamp: meta.timestamp,
      unidentified: { shape: describeShape(json) },
    };
  }
}

function parseResourceEvent(
  action: string,
  meta: EventMeta,
  data: Record<string, unknown>,
  args: Record<string, unknown>,
  input: Record<string, unknown>,
  options: ParseOptions,
): AuditEvent {
  switch (action) {
    case "stack.create":
      return {
        ...meta,
        type: "stack.upserted",
        stackId: stackIdFrom(firstDefined(data.ID, args.ID, args.Id, args.Slug)),
        spaceId: optionalSpaceId(input.Space, "data.args.Input.Space") ?? options.defaultSpaceId,
        labels: labelsFrom(input.Labels) ?? [],
      };
    case "stack.update":
      return {
        ...meta,
        type: "stack.upserted",
        stackId: stackIdFrom(firstDefined(args.ID, args.Id, data.ID)),
        spaceId: optionalSpaceId(input.Space, "data.args.Input.Space"),
        labels: labelsFrom(input.Labels),
      };
    case "stack.delete":
      return {
        ...meta,
        type: "stack.deleted",
        stackId: stackIdFrom(firstDefined(args.ID, args.Id, data.ID)),
      };
    case "space.create":
    case "space.update":
      return {
        ...meta,
        type: "space.upserted",
        spaceId: spaceIdFrom(
          action === "space.create"
            ? firstDefined(data.ID, args.ID, args.Space)
            : firstDefined(args.Space, args.ID, data.ID),
        ),
        name: typeof input.Name === "string" ? input.Name : undefined,
        parentSpaceId: optionalSpaceId(input.ParentSpace, "data.args.Input.ParentSpace"),
        labels: labelsFrom(input.Labels),
      };
    case "space.delete":
      return {
        ...meta,
        type: "space.deleted",
        spaceId: spaceIdFrom(firstDefined(args.Space, args.ID, data.ID)),
      };
    case "audit_trail_webhook.delete":
      return {
        type: "ignored",
        account: meta.account,
        action: meta.action,
        reason: "the audit-trail webhook itself was deleted: no further events will arrive",
        alarm: true,
        timestamp: meta.timestamp,
      };
    case "audit_trail_webhook.set": {
      const enabled = args.Enabled !== false;
      return {
        type: "ignored",
        account: meta.account,
        action: meta.action,
        reason: enabled
          ? "audit-trail webhook saved (delivery test)"
          : "the audit-trail webhook was disabled: no further events will arrive",
        alarm: !enabled,
        timestamp: meta.timestamp,
      };
    }
    default:
      return {
        type: "ignored",
        account: meta.account,
        action: meta.action,
        reason: "action not handled",
        alarm: false,
        timestamp: meta.timestamp,
      };
  }
}

/**
 * When a signed event may be accepted, relative to the receiver's clock. The body's HMAC
 * proves who wrote it, not when it was sent: without a window a captured body can be re-sent
 * at any time (a years-old `stack.create` re-creating a role), and a body dated in the future
 * would make every genuine later event look stale to the provisioner's ledger.
 */
export interface EventWindow {
  /** How far an event's `timestamp` may be behind the receiver's clock, in ms. */
  readonly maxAgeMs: number;
  /** How far it may be ahead of it (clock skew), in ms. */
  readonly maxSkewMs: number;
}

/** Clocks of Spacelift and AWS Lambda are NTP-synchronised; 5 minutes is ample skew. */
export const EVENT_CLOCK_SKEW_MS = 5 * 60_000;
/**
 * The default replay window. Spacelift sends audit events as they happen and, with
 * `retry_on_failure`, retries a 5xx up to 3 times within minutes; an hour covers that and a
 * delivery backlog. An event refused as too old is not lost: the reconciler converges the
 * resource from Spacelift's API.
 */
export const DEFAULT_EVENT_MAX_AGE_SECONDS = 3600;
/**
 * The longest replay window the configuration accepts. The provisioner's ledger keeps the
 * tombstones of deleted resources far longer (see dynamodb-ledger.ts), so no event the
 * receiver can still accept can outlive the tombstone that marks it stale.
 */
export const MAX_EVENT_MAX_AGE_SECONDS = 7 * 86400;

/** Refuses an event dated outside the window around `now` (both in ms since the epoch). */
export function assertEventInWindow(timestamp: number, now: number, window: EventWindow): void {
  if (timestamp > now + window.maxSkewMs) {
    throw new EventOutsideWindowError(
      `event timestamp ${describeTimestamp(timestamp)} is more than ${window.maxSkewMs / 1000} s ahead of the receiver's clock; refused`,
    );
  }
  if (timestamp < now - window.maxAgeMs) {
    throw new EventOutsideWindowError(
      `event timestamp ${describeTimestamp(timestamp)} is older than the replay window of ${window.maxAgeMs / 1000} s; refused (the reconciler converges what it missed)`,
    );
  }
}

/** ISO 8601 when it is a date JavaScript can show (up to year 275760), else the number. */
function describeTimestamp(timestamp: number): string {
  const date = new Date(timestamp);
  return Number.isNaN(date.getTime()) ? String(timestamp) : date.toISOString();
}

/** The SQS FIFO message group of a resource event: one ordered lane per stack or space. */
export function eventResourceKey(event: ResourceEvent): string {
  return event.type.startsWith("stack.")
    ? resourceKey("stack", (event as StackUpserted | StackDeleted).stackId)
    : resourceKey("space", (event as SpaceUpserted | SpaceDeleted).spaceId);
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function firstDefined(...values: unknown[]): unknown {
  return values.find((value) => value !== undefined && value !== null);
}

function stackIdFrom(value: unknown): StackId {
  if (value === undefined) throw new MissingIdentifierError("event carries no stack ID");
  if (!isStackId(value)) throw new InvalidEventError("stack ID is not a valid Spacelift slug");
  return value;
}

function spaceIdFrom(value: unknown): SpaceId {
  if (value === undefined) throw new MissingIdentifierError("event carries no space ID");
  if (!isSpaceId(value)) throw new InvalidEventError("space ID is not a valid Spacelift space ID");
  return value;
}

function optionalSpaceId(value: unknown, where: string): SpaceId | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isSpaceId(value)) throw new InvalidEventError(`${where} is not a valid Spacelift space ID`);
  return value;
}

function labelsFrom(value: unknown): readonly string[] | undefined {
  if (value === undefined || value === null) return undefined;
  const parsed = Labels.safeParse(value);
  if (!parsed.success) throw new InvalidEventError("labels must be a list of strings");
  return parsed.data.filter((label) => label.length <= MAX_LABEL_LENGTH);
}

/** How many key paths a shape lists at most, and how deep it looks: the log line stays small. */
const MAX_SHAPE_PATHS = 64;
const MAX_SHAPE_DEPTH = 6;

/**
 * The shape of a JSON value: each key path (`data.args.Input.Labels[]`) with the JSON type of
 * what is there. Never a value: labels, names and descriptions may be sensitive.
 */
export function describeShape(value: unknown): Readonly<Record<string, string>> {
  const shape: Record<string, string> = {};
  const visit = (node: unknown, path: string, depth: number): void => {
    if (Object.keys(shape).length >= MAX_SHAPE_PATHS) return;
    const type = jsonType(node);
    if (path !== "") shape[path] = shape[path] === undefined ? type : mergeTypes(shape[path], type);
    if (depth >= MAX_SHAPE_DEPTH) return;
    if (type === "object") {
      for (const [key, child] of Object.entries(node as Record<string, unknown>)) {
        visit(child, path === "" ? safeKey(key) : `${path}.${safeKey(key)}`, depth + 1);
      }
    } else if (type === "array") {
      for (const child of (node as unknown[]).slice(0, MAX_SHAPE_PATHS)) {
        visit(child, `${path}[]`, depth + 1);
      }
    }
  };
  visit(value, "", 0);
  return shape;
}

function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function mergeTypes(known: string, type: string): string {
  return known.split("|").includes(type) ? known : `${known}|${type}`;
}

/** A key is a name, not a value, but a hostile body could put anything there: keep it short and plain. */
function safeKey(key: string): string {
  const plain = key.replace(/[^A-Za-z0-9_-]/g, "?");
  return plain.length > 40 ? `${plain.slice(0, 40)}…` : plain;
}
