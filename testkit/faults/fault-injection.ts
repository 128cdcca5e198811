/**
 * Fault injection and call counting per labelled client for real AWS SDK v3 clients (tests and
 * the soak script).
 *
 * The injector is an SDK middleware added to a client's stack at the `deserialize` step with
 * `low` priority: below the retry middleware (`finalizeRequest`) and the signer, just above the
 * HTTP handler. The counter stands on `observeSdkCalls` (aws/sdk-call-observer.ts), whose attempt
 * middleware sits above this step, so it counts injected attempts too. An injected fault therefore reaches the SDK's retry logic exactly as the real one
 * would: a `Throttling` answer is parsed by the client's own protocol into the service's
 * exception, a `TimeoutError` or an `ECONNRESET` is thrown where the HTTP handler throws it, and
 * each retry attempt passes through the middleware again.
 *
 * The schedule is a pure function of (seed, service, operation, target, occurrence), where the
 * target is the role, parameter or ledger item a call names: it does not depend on how calls
 * for different resources interleave, so a seed replays the same faults for each resource.
 */
import type {
  DeserializeHandlerOutput,
  DeserializeMiddleware,
  HandlerExecutionContext,
  MetadataBearer,
  MiddlewareStack,
} from "@smithy/types";
import { observeSdkCalls } from "../aws/sdk-call-observer.ts";
import { mulberry32 } from "../random.ts";

/** `sts`: AssumeRole into target accounts; it speaks IAM's wire protocol (awsQuery, XML errors). */
export type AwsService = "iam" | "ssm" | "dynamodb" | "sts";

export const FAULT_KINDS = [
  "throttling",
  "serverError",
  "timeout",
  "connectionReset",
  "answerLost",
  "unretried",
  "exhausted",
  "notYetReadable",
] as const;

/**
 * - `throttling`: IAM `Throttling` (HTTP 400), SSM `ThrottlingException`, DynamoDB
 *   `ProvisionedThroughputExceededException`; the SDK retries with its throttling backoff.
 * - `serverError`: IAM `ServiceFailure`, SSM/DynamoDB `InternalServerError` (HTTP 500).
 * - `timeout`: a `TimeoutError` before the request reached AWS.
 * - `connectionReset`: `ECONNRESET` before the request reached AWS.
 * - `answerLost`: AWS applied the call, then the answer was lost (`ECONNRESET` or `TimeoutError`).
 * - `unretried`: transient for AWS but not retried by the SDK: IAM `ConcurrentModification`
 *   (HTTP 409), SSM `TooManyUpdates`, DynamoDB `TransactionConflictException`; the
 *   message-level retry (queue redelivery) must cope.
 * - `exhausted`: every attempt of one call fails with a 500 until the SDK gives up.
 * - `notYetReadable`: IAM eventual consistency, `NoSuchEntity` from GetRole or AttachRolePolicy
 *   for a role that CreateRole has just created.
 */
export type FaultKind = (typeof FAULT_KINDS)[number];

/** The kinds that strike one HTTP attempt at random. */
export type AttemptFaultKind =
  | "throttling"
  | "serverError"
  | "timeout"
  | "connectionReset"
  | "answerLost"
  | "unretried";

const ATTEMPT_FAULT_KINDS: readonly AttemptFaultKind[] = [
  "throttling",
  "serverError",
  "timeout",
  "connectionReset",
  "answerLost",
  "unretried",
];

export interface FaultPlan {
  readonly seed: number;
  /** Probability, per HTTP attempt, of each kind (their sum must stay below 1). */
  readonly perAttempt?: Readonly<Partial<Record<AttemptFaultKind, number>>>;
  /** Probability, per SDK call, that every attempt fails until the SDK gives up. */
  readonly exhausted?: number;
  /** IAM eventual consistency after CreateRole: how often, and for how many reads at most. */
  readonly notYetReadable?: { readonly probability: number; readonly maxReads: number };
  /** Services to inject into; all by default. */
  readonly services?: readonly AwsService[];
}

/** A fault forced on the next matching attempts, whatever the random schedule says. */
export interface ForcedFault {
  readonly service: AwsService;
  /** e.g. `AttachRolePolicy`; any operation when omitted. */
  readonly operation?: string;
  /** Role name, parameter name or ledger key the call must name; any when omitted. */
  readonly target?: string;
  readonly kind: Exclude<FaultKind, "exhausted">;
  /** How many matching attempts fail; `Infinity` until `heal()`. */
  readonly times: number;
  /** Matching attempts let through before the first failure (0 by default). */
  readonly skip?: number;
}

/** Any SDK v3 client: all that is needed is its middleware stack. */
export interface SdkClient<I extends object, O extends MetadataBearer> {
  readonly middlewareStack: MiddlewareStack<I, O>;
}

const BELOW_RETRIES = { step: "deserialize", priority: "low" } as const;

// ---------------------------------------------------------------------------------------------
// Seeded decisions

/** FNV-1a, 32 bits. */
function hashText(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** A uniform number in [0, 1) determined by its parts. */
function unitFor(...parts: readonly (string | number)[]): number {
  return mulberry32(hashText(parts.join("\u0000")))();
}

// ---------------------------------------------------------------------------------------------
// Call counting

export interface OperationCount {
  /** SDK calls (`client.send`), whatever the number of attempts. */
  calls: number;
  /** HTTP attempts, retries and injected failures included. */
  attempts: number;
  /** Calls that ended in an error after the SDK's retries (or that it would not retry). */
  failures: number;
}

/**
 * Counts SDK calls, HTTP attempts and surfaced failures per `label.Operation` (e.g.
 * `iam.CreateRole`, `target-iam.CreateRole`), the label given for each client when attaching:
 * two clients of one service (the service's account and a target account) count apart, unlike
 * `ApiCallCounter` (aws/api-calls.ts), which keys by the SDK client's service. Calls and attempts
 * are counted as `observeSdkCalls` sees them: the attempts include the faults a FaultInjector
 * injects, whichever was attached first.
 */
export class LabelledCallCounter {
  readonly #counts = new Map<string, OperationCount>();

  attach(client: { readonly middlewareStack: unknown }, label: AwsService | string): void {
    observeSdkCalls(
      client,
      {
        calls: {
          started: ({ operation }) => {
            this.#entry(label, operation).calls++;
          },
          failed: ({ operation }) => {
            this.#entry(label, operation).failures++;
          },
        },
        attempts: {
          started: ({ operation }) => {
            this.#entry(label, operation).attempts++;
          },
          failed: () => {},
        },
      },
      `labelledCallCounter-${label}`,
    );
  }

  /** Counts per `label.Operation`, sorted by name. */
  byOperation(): Record<string, OperationCount> {
    return Object.fromEntries(
      [...this.#counts.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, count]) => [key, { ...count }]),
    );
  }

  totals(): OperationCount {
    const total: OperationCount = { calls: 0, attempts: 0, failures: 0 };
    for (const count of this.#counts.values()) {
      total.calls += count.calls;
      total.attempts += count.attempts;
      total.failures += count.failures;
    }
    return total;
  }

  reset(): void {
    this.#counts.clear();
  }

  #entry(label: string, operation: string): OperationCount {
    const key = `${label}.${operation}`;
    let count = this.#counts.get(key);
    if (count === undefined) {
      count = { calls: 0, attempts: 0, failures: 0 };
      this.#counts.set(key, count);
    }
    return count;
  }
}

// ---------------------------------------------------------------------------------------------
// Fault injection

interface CallState {
  readonly doomed: boolean;
}

/** An HTTP response as the SDK's protocols read it (duck-typed like `HttpResponse`). */
interface RawResponse {
  readonly statusCode: number;
  readonly reason?: string;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array;
}

/**
 * Injects faults into the clients it is attached to, following a seeded plan, and counts what it
 * injected per kind. `enabled = false` lets every call through untouched (and uncounted).
 */
export class FaultInjector {
  enabled = true;
  #plan: FaultPlan;
  #injected = emptyFaultCounts();
  readonly #occurrences = new Map<string, number>();
  #calls = new WeakMap<HandlerExecutionContext, CallState>();
  /** Roles just created that IAM does not show yet, with the number of reads left. */
  readonly #invisible = new Map<string, number>();
  #forced: { fault: ForcedFault; skip: number; remaining: number }[] = [];

  constructor(plan: FaultPlan) {
    this.#plan = checkedPlan(plan);
  }

  /** Starts over with a new plan: counts, forced faults and pending lags are dropped. */
  reset(plan: FaultPlan): void {
    this.#plan = checkedPlan(plan);
    this.#injected = emptyFaultCounts();
    this.#occurrences.clear();
    this.#calls = new WeakMap();
    this.#invisible.clear();
    this.#forced = [];
  }

  attach<I extends object, O extends MetadataBearer>(
    client: SdkClient<I, O>,
    service: AwsService,
  ): void {
    const injecting: DeserializeMiddleware<I, O> = (next, context) => async (args) => {
      if (!this.enabled) return next(args);
      const operation = operationOf(context);
      const body = bodyOf(args.request);
      const target = targetOf(service, body);
      const fault = this.#decide(service, operation, target, context);
      if (fault === undefined || fault === "answerLost") {
        const result = await next(args);
        this.#observe(service, operation, target, result.response);
        if (fault === "answerLost") {
          this.#count("answerLost");
          discardBody(result.response);
          throw networkError(
            unitFor(this.#plan.seed, "lost", service, operation, target) < 0.5
              ? "timeout"
              : "connectionReset",
          );
        }
        return result;
      }
      this.#count(fault);
      if (fault === "timeout" || fault === "connectionReset") throw networkError(fault);
      return {
        response: errorResponse(service, fault === "exhausted" ? "serverError" : fault, target),
      } as DeserializeHandlerOutput<O>;
    };
    client.middlewareStack.add(injecting, { ...BELOW_RETRIES, name: `faultInjection-${service}` });
  }

  /** Forces faults on the next matching attempts (for targeted tests and sick resources). */
  force(fault: ForcedFault): void {
    this.#forced.push({ fault, skip: fault.skip ?? 0, remaining: fault.times });
  }

  /** Drops every forced fault still pending. */
  heal(): void {
    this.#forced = [];
  }

  /**
   * IAM has caught up with this role. The queue calls it before redelivering a message: its
   * visibility timeout (tens of seconds) is far longer than IAM's propagation delay.
   */
  settle(roleName: string): void {
    this.#invisible.delete(roleName);
  }

  /** Faults injected so far, per kind (an `exhausted` call counts once per failed attempt). */
  injected(): Record<FaultKind, number> {
    return { ...this.#injected };
  }

  total(): number {
    return Object.values(this.#injected).reduce((sum, count) => sum + count, 0);
  }

  #count(kind: FaultKind): void {
    this.#injected[kind]++;
  }

  #decide(
    service: AwsService,
    operation: string,
    target: string,
    context: HandlerExecutionContext,
  ): FaultKind | undefined {
    const forced = this.#forced.find(
      ({ fault, remaining }) =>
        remaining > 0 &&
        fault.service === service &&
        (fault.operation === undefined || fault.operation === operation) &&
        (fault.target === undefined || fault.target === target),
    );
    if (forced !== undefined) {
      if (forced.skip > 0) {
        forced.skip--;
      } else {
        forced.remaining--;
        return forced.fault.kind;
      }
    }
    if (
      service === "iam" &&
      (operation === "GetRole" || operation === "AttachRolePolicy") &&
      (this.#invisible.get(target) ?? 0) > 0
    ) {
      this.#invisible.set(target, (this.#invisible.get(target) ?? 1) - 1);
      return "notYetReadable";
    }
    if (this.#plan.services !== undefined && !this.#plan.services.includes(service)) {
      return undefined;
    }
    const signature = `${service}:${operation}:${target}`;
    const occurrence = (this.#occurrences.get(signature) ?? 0) + 1;
    this.#occurrences.set(signature, occurrence);
    let call = this.#calls.get(context);
    if (call === undefined) {
      call = {
        doomed:
          unitFor(this.#plan.seed, "exhausted", signature, occurrence) <
          (this.#plan.exhausted ?? 0),
      };
      this.#calls.set(context, call);
    }
    if (call.doomed) return "exhausted";
    let roll = unitFor(this.#plan.seed, "attempt", signature, occurrence);
    for (const kind of ATTEMPT_FAULT_KINDS) {
      const rate = this.#plan.perAttempt?.[kind] ?? 0;
      if (roll < rate) return kind;
      roll -= rate;
    }
    return undefined;
  }

  /** Follows what AWS did, for eventual consistency: a role just created may stay unseen. */
  #observe(service: AwsService, operation: string, target: string, response: unknown): void {
    if (service !== "iam" || statusOf(response) !== 200) return;
    if (operation === "DeleteRole") this.#invisible.delete(target);
    const lag = this.#plan.notYetReadable;
    if (operation !== "CreateRole" || lag === undefined) return;
    const roll = unitFor(
      this.#plan.seed,
      "lag",
      target,
      this.#occurrences.get(`iam:CreateRole:${target}`) ?? 0,
    );
    if (roll < lag.probability) {
      this.#invisible.set(target, 1 + Math.floor((roll / lag.probability) * lag.maxReads));
    }
  }
}

function checkedPlan(plan: FaultPlan): FaultPlan {
  const sum = Object.values(plan.perAttempt ?? {}).reduce((total, rate) => total + rate, 0);
  if (sum >= 1) throw new Error("per-attempt fault probabilities must sum to less than 1");
  return plan;
}

export function emptyFaultCounts(): Record<FaultKind, number> {
  return Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
}

function operationOf(context: HandlerExecutionContext): string {
  return (context.commandName ?? "Unknown").replace(/Command$/, "");
}

function bodyOf(request: unknown): string {
  const body = (request as { body?: unknown } | undefined)?.body;
  if (typeof body === "string") return body;
  // JSON bodies are a Uint8Array subclass that warns when used as a string: decode the bytes.
  if (body instanceof Uint8Array) return new TextDecoder().decode(body);
  return "";
}

/** The role, parameter or ledger item a call is about. */
function targetOf(service: AwsService, body: string): string {
  if (service === "iam") return new URLSearchParams(body).get("RoleName") ?? "";
  if (service === "sts") return new URLSearchParams(body).get("RoleArn") ?? "";
  try {
    const input = JSON.parse(body) as Record<string, unknown>;
    if (service === "ssm") {
      const name = input.Name ?? input.ResourceId ?? input.Path;
      return typeof name === "string" ? name : "";
    }
    const item = (input.Key ?? input.Item) as { resource?: { S?: string } } | undefined;
    return item?.resource?.S ?? "";
  } catch {
    return "";
  }
}

function statusOf(response: unknown): number | undefined {
  const status = (response as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === "number" ? status : undefined;
}

/** Frees the socket of an answer we pretend never arrived. */
function discardBody(response: unknown): void {
  const body = (response as { body?: { destroy?: () => void } } | undefined)?.body;
  body?.destroy?.();
}

/** The errors Node's HTTP stack and the SDK's handler throw for these failures. */
function networkError(kind: "timeout" | "connectionReset"): Error {
  return kind === "timeout"
    ? Object.assign(
        new Error(
          "@smithy/node-http-handler - [ERROR] a request has exceeded the configured 5000 ms requestTimeout.",
        ),
        { name: "TimeoutError", code: "ETIMEDOUT" },
      )
    : Object.assign(new Error("read ECONNRESET"), {
        code: "ECONNRESET",
        errno: -104,
        syscall: "read",
      });
}

type AnsweredFault = "throttling" | "serverError" | "unretried" | "notYetReadable";

/** The answer each service gives for these faults, in its own wire protocol. */
function errorResponse(service: AwsService, fault: AnsweredFault, target: string): RawResponse {
  if (service === "iam" || service === "sts") {
    const [status, type, code, message] = {
      throttling: [400, "Sender", "Throttling", "Rate exceeded"],
      serverError: [
        500,
        "Receiver",
        "ServiceFailure",
        "The request processing has failed because of an unknown error, exception or failure.",
      ],
      unretried: [
        409,
        "Sender",
        "ConcurrentModification",
        "The request was rejected because multiple requests to change this object were submitted simultaneously. Wait a few minutes and submit your request again.",
      ],
      notYetReadable: [
        404,
        "Sender",
        "NoSuchEntity",
        `The role with name ${target} cannot be found.`,
      ],
    }[fault] as [number, string, string, string];
    return {
      statusCode: status,
      headers: { "content-type": "text/xml", "x-amzn-requestid": requestId() },
      body: new TextEncoder().encode(
        `<ErrorResponse xmlns="https://${service}.amazonaws.com/doc/${service === "iam" ? "2010-05-08" : "2011-06-15"}/"><Error><Type>${type}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${requestId()}</RequestId></ErrorResponse>`,
      ),
    };
  }
  const [status, type, message] = (
    service === "ssm"
      ? {
          throttling: [400, "ThrottlingException", "Rate exceeded"],
          serverError: [500, "InternalServerError", "An error occurred on the server side."],
          unretried: [
            400,
            "TooManyUpdates",
            "There are concurrent updates for the resource that you're trying to update.",
          ],
          notYetReadable: [400, "ParameterNotFound", ""],
        }
      : {
          throttling: [
            400,
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded.",
          ],
          serverError: [
            500,
            "com.amazonaws.dynamodb.v20120810#InternalServerError",
            "Internal server error",
          ],
          unretried: [
            400,
            "com.amazonaws.dynamodb.v20120810#TransactionConflictException",
            "Transaction is ongoing for the item",
          ],
          notYetReadable: [400, "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", ""],
        }
  )[fault] as [number, string, string];
  return {
    statusCode: status,
    headers: {
      "content-type":
        service === "ssm" ? "application/x-amz-json-1.1" : "application/x-amz-json-1.0",
      "x-amzn-requestid": requestId(),
    },
    body: new TextEncoder().encode(JSON.stringify({ __type: type, message })),
  };
}

function requestId(): string {
  return "00000000-0000-4000-8000-000000000000";
}
