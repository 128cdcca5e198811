/**
 * The convergence scenario shared by test/faults/convergence.test.ts (bounded, in `npm test`)
 * and scripts/fault-soak.ts (larger): a seeded history of Spacelift stack and space events is
 * delivered with duplicates and reordering through a simulated SQS FIFO queue (one ordered lane
 * per resource, redelivery on failure, a dead-letter queue) into `processQueueMessage` with the
 * real adapters and the product's own SDK clients against moto_server, with faults injected into
 * every IAM, SSM, DynamoDB and STS call. Afterwards the AWS state is compared with what a simple
 * model of the history says, and roles and parameters we did not create must be untouched.
 * Optionally a second AWS account takes the spaces routed to it (testkit/faults/
 * convergence-accounts.ts), and reconcile passes run between deliveries against a Spacelift
 * that follows the history (testkit/faults/convergence-reconcile.ts).
 */
import {
  AttachRolePolicyCommand,
  CreateRoleCommand,
  IAMClient,
  paginateListRoles,
  type Role,
} from "@aws-sdk/client-iam";
import {
  GetParameterCommand,
  ListTagsForResourceCommand,
  PutParameterCommand,
  paginateGetParametersByPath,
  SSMClient,
} from "@aws-sdk/client-ssm";
import { dynamodbClient, iamClient, ssmClient } from "../../functions/adapters/aws-clients.ts";
import { DynamoDbLedger } from "../../functions/adapters/dynamodb-ledger.ts";
import { IamRoleStore } from "../../functions/adapters/iam-role-store.ts";
import { SsmParameterStore } from "../../functions/adapters/ssm-parameter-store.ts";
import type { StsAccountAccess } from "../../functions/adapters/sts-account-access.ts";
import { stsClient } from "../../functions/adapters/sts-client.ts";
import { accountFor, configForAccount } from "../../functions/core/account-routing.ts";
import {
  eventResourceKey,
  parseAuditEvent,
  type ResourceEvent,
} from "../../functions/core/audit-event.ts";
import { loadVendingConfig, type VendingConfig } from "../../functions/core/config.ts";
import type { SpaceId, StackId } from "../../functions/core/identifiers.ts";
import type { ObservedRole, RoleSpec } from "../../functions/core/ports.ts";
import {
  processQueueMessage,
  type QueueMessageOutcome,
} from "../../functions/core/process-queue-message.ts";
import type { ProvisionerDeps } from "../../functions/core/provision.ts";
import type { ReconcileReport } from "../../functions/core/reconcile/decisions.ts";
import { spaceRoleName, stackRoleName, stackRoleNames } from "../../functions/core/role-names.ts";
import {
  ACCOUNT_TAG,
  MANAGED_BY_TAG,
  MANAGED_BY_VALUE,
  STACK_TAG,
} from "../../functions/core/role-ownership.ts";
import { permissionsOf, spaceBinding, stackBinding } from "../../functions/core/role-spec.ts";
import { createLocalAwsResources, localClientConfig } from "../aws/local-aws.ts";
import type { MotoServer } from "../aws/moto.ts";
import { createRandom, type Random } from "../random.ts";
import { auditEvent, type ResourceAction } from "../spacelift/events.ts";
import { SPACELIFT_HOST } from "../spacelift/fixtures.ts";
import {
  containerAccountAccess,
  isRoutedSpaceIndex,
  prepareTargetAccount,
  TARGET_ACCOUNT_ID,
  TARGET_BOUNDARY_ARN,
  twoAccountConfig,
} from "./convergence-accounts.ts";
import {
  runReconcilePass,
  SimulatedPlanQueue,
  type SpaceliftChange,
  SpaceliftFollowingHistory,
} from "./convergence-reconcile.ts";
import {
  emptyFaultCounts,
  FaultInjector,
  type FaultKind,
  type FaultPlan,
  LabelledCallCounter,
  type OperationCount,
} from "./fault-injection.ts";

const ACCOUNT = "acme";
const AWS_ACCOUNT_ID = "123456789012";
/**
 * The service's account's boundary, as production requires one on every role: the stand-in
 * createLocalAwsResources creates in moto after each reset (runConvergenceSeed checks the ARN).
 */
const SERVICE_BOUNDARY_ARN = `arn:aws:iam::${AWS_ACCOUNT_ID}:policy/spacelift-role-vending/spacelift-role-vending-boundary`;
/** The boundary every role of an account must carry, whatever role-spec.ts renders. */
const BOUNDARY_OF_ACCOUNT: ReadonlyMap<string, string> = new Map([
  [AWS_ACCOUNT_ID, SERVICE_BOUNDARY_ARN],
  [TARGET_ACCOUNT_ID, TARGET_BOUNDARY_ARN],
]);
/** Real AWS managed policies: moto loads them (MOTO_IAM_LOAD_MANAGED_POLICIES=true). */
const DEFAULT_POLICY_ARNS = [
  "arn:aws:iam::aws:policy/ReadOnlyAccess",
  "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
];
const LABEL_POOL = ["team:payments", "team:platform", "env:prod", "env:staging", "tier:1", "pci"];

/** Stacks whose names someone else holds: their events must change nothing of theirs. */
const SQUATTED_ROLE = "squatted-role";
const SQUATTED_PATH = "squatted-path";
const SQUATTED_PARAMETER = "squatted-param";
const NEVER_SEEN = "never-seen";

export interface ScenarioOptions {
  readonly seed: number;
  /** Resource events in the history (each delivered once or more). */
  readonly events: number;
  /** Distinct stacks (three more are squatted by decoys). */
  readonly stacks: number;
  readonly spaces: number;
  /** Message groups processed at once (the provisioner's concurrency); 4 by default. */
  readonly concurrency?: number;
  /** Receives before a message moves to the dead-letter queue (SQS maxReceiveCount). */
  readonly maxReceives?: number;
  /** Probability that an event is delivered more than once. */
  readonly duplicateRate?: number;
  /** Probability that a stack.update leaves its space, or its labels, unsaid (unchanged). */
  readonly omitRate?: number;
  readonly faults?: Omit<FaultPlan, "seed">;
  /**
   * Switches the read/write split on after a third of the deliveries have been received and
   * off again after two thirds, as two deployments would (each receive sees one configuration,
   * concurrent receives may see different ones). Every stack alive at the end then gets one
   * more event saying nothing new, so AWS must hold the unsplit roles only: no role or
   * read-role parameter of the split may be left. Stacks whose names someone else holds are
   * left out of the history (the product refuses to switch them).
   */
  readonly switchSplit?: boolean;
  /**
   * AWS accounts (1 by default). With 2, a second account (moto keeps its own state) carries
   * its own OIDC provider, boundary and vending role, the permissions file routes every
   * odd-numbered space to it, and the provisioner reaches it through StsAccountAccess (a new
   * one per drain, as a new Lambda container would: AssumeRole is called, and faulted, each
   * time). Stacks move between spaces of both accounts and back; the model wants each role only
   * in the account its space routes to, trusted by that account's provider, and its parameter
   * in the service's account and in that account. The squatted stacks stay in the service's
   * account's spaces (where their decoys are).
   */
  readonly accounts?: 1 | 2;
  /**
   * Reconcile passes run at random points between deliveries (0 by default), concurrently with
   * the provisioner, against a fake Spacelift that follows the history and moves on while the
   * pass plans; their messages go into the same simulated FIFO queue. One more pass runs after
   * the last delivery. AWS must match the model both before and after that last pass: before,
   * because a pass must never undo a newer webhook (issue 14, goal 6).
   */
  readonly reconcilePasses?: number;
}

/**
 * Per HTTP attempt, about one in twelve fails. Throttling is kept rarer than the rest: adaptive
 * retry mode answers each throttle by slowing the whole client down and recovering over
 * seconds (as it should), which is what makes a run long.
 */
export const DEFAULT_FAULTS: Omit<FaultPlan, "seed"> = {
  perAttempt: {
    throttling: 0.003,
    serverError: 0.015,
    timeout: 0.01,
    connectionReset: 0.01,
    answerLost: 0.02,
    unretried: 0.01,
  },
  exhausted: 0.0005,
  notYetReadable: { probability: 0.3, maxReads: 3 },
};

/**
 * The faults of the tests in `npm test`: the soak's, with fewer throttles, each of which slows
 * the adaptive client for seconds.
 */
export const TEST_FAULTS: Omit<FaultPlan, "seed"> = {
  ...DEFAULT_FAULTS,
  perAttempt: { ...DEFAULT_FAULTS.perAttempt, throttling: 0.001 },
};

export interface SeedReport {
  readonly seed: number;
  readonly events: number;
  readonly deliveries: number;
  /** processMessage calls, redeliveries included. */
  readonly receives: number;
  /** Receives that threw, so the queue redelivered the message (or dead-lettered it). */
  readonly redeliveries: number;
  readonly deadLettered: number;
  /** Dead-lettered messages of the resource whose IAM calls kept failing on purpose. */
  readonly poisonDeadLettered: number;
  /**
   * With `switchSplit`: receives of the half-way stack (its unsplit role cannot be deleted until
   * the first drain is over) that failed after the split's roles were created.
   */
  readonly halfWayFailures: number;
  readonly outcomes: Readonly<Record<string, number>>;
  readonly injected: Readonly<Record<FaultKind, number>>;
  readonly sdk: OperationCount;
  /** Waits for IAM eventual consistency (calls to the injected sleep). */
  readonly waits: number;
  /** The reconcile passes (with `reconcilePasses`; the final one included). */
  readonly reconcile: {
    readonly passes: number;
    /** Passes that threw (their inventory failed under the injected faults): nothing planned. */
    readonly failed: number;
    /** Messages the passes put in the queue. */
    readonly enqueued: number;
    readonly passesThatEnqueued: number;
  };
  /** AssumeRole calls into the second account (with `accounts: 2`). */
  readonly assumeRoleCalls: number;
  /** Stack events of the history that move a stack into a space of another AWS account. */
  readonly crossAccountMoves: number;
  /** Differences between AWS and the model, and decoys touched; empty when converged. */
  readonly problems: readonly string[];
  readonly durationMs: number;
}

/** The product's clients pointed at moto, instrumented, and clean clients for inspection. */
export interface ConvergenceEnvironment {
  readonly moto: MotoServer;
  readonly config: VendingConfig;
  readonly faults: FaultInjector;
  readonly counter: LabelledCallCounter;
  readonly inspect: {
    readonly iam: IAMClient;
    readonly ssm: SSMClient;
    readonly roles: IamRoleStore;
  };
  /** Restores the AWS_* variables it set and closes the inspection clients. */
  close(): void;
}

/** The scenario's configuration with the read/write split on (same policies for the write role). */
function splitConfig(): Promise<VendingConfig> {
  return loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    PERMISSIONS_BOUNDARY_ARN: SERVICE_BOUNDARY_ARN,
    AWS_ACCOUNT_ID,
    PERMISSIONS_CONFIG: JSON.stringify({
      readWriteSplit: true,
      default: {
        managedPolicyArns: DEFAULT_POLICY_ARNS,
        read: { managedPolicyArns: DEFAULT_POLICY_ARNS.slice(0, 1) },
      },
    }),
  });
}

export async function prepareConvergence(moto: MotoServer): Promise<ConvergenceEnvironment> {
  // The product's module-scope clients read these when first created, as they do locally.
  const localEnv: Record<string, string> = {
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? "testing",
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? "testing",
    AWS_REGION: process.env.AWS_REGION ?? "us-east-1",
  };
  const previousEnv = Object.fromEntries(
    Object.keys(localEnv).map((key) => [key, process.env[key]]),
  );
  Object.assign(process.env, localEnv);
  const config = await loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    PERMISSIONS_BOUNDARY_ARN: SERVICE_BOUNDARY_ARN,
    AWS_ACCOUNT_ID,
    DEFAULT_POLICY_ARNS: DEFAULT_POLICY_ARNS.join(","),
  });
  const counter = new LabelledCallCounter();
  const faults = new FaultInjector({ seed: 0 });
  faults.enabled = false;
  const clients = [
    [iamClient(), "iam"],
    [ssmClient(), "ssm"],
    [dynamodbClient(), "dynamodb"],
  ] as const;
  // The attempts the counter counts include the injected failures (its attempt middleware sits
  // above the injector's step, whatever the order of attachment).
  counter.attach(clients[0][0], "iam");
  counter.attach(clients[1][0], "ssm");
  counter.attach(clients[2][0], "dynamodb");
  counter.attach(stsClient(), "sts");
  faults.attach(clients[0][0], "iam");
  faults.attach(clients[1][0], "ssm");
  faults.attach(clients[2][0], "dynamodb");
  // AssumeRole into the second account (accounts: 2); STS speaks IAM's protocol.
  faults.attach(stsClient(), "sts");
  const iam = new IAMClient(localClientConfig(moto.endpoint));
  const ssm = new SSMClient(localClientConfig(moto.endpoint));
  return {
    moto,
    config,
    faults,
    counter,
    inspect: { iam, ssm, roles: new IamRoleStore(iam) },
    close() {
      for (const [key, value] of Object.entries(previousEnv)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      iam.destroy();
      ssm.destroy();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The history: what happened in Spacelift, in order

export interface HistoryEvent {
  readonly index: number;
  readonly timestamp: number;
  readonly group: string;
  readonly action: ResourceAction;
  readonly body: string;
  /** What the event changed in Spacelift; none for an event that changes nothing. */
  readonly change?: SpaceliftChange;
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** A Spacelift space ID: `<slug>-<26-character ULID>`. */
export function spaceIdFor(index: number): SpaceId {
  let ulid = "";
  for (let value = index; ulid.length < 22; value = Math.floor(value / 32)) {
    ulid = (CROCKFORD[value % 32] ?? "0") + ulid;
  }
  return `team${index}-01JD${ulid}` as SpaceId;
}

function stackIdsFor(count: number, squatted: boolean): StackId[] {
  return [
    ...Array.from({ length: count }, (_, index) => `svc-${index}` as StackId),
    ...(squatted
      ? [SQUATTED_ROLE as StackId, SQUATTED_PATH as StackId, SQUATTED_PARAMETER as StackId]
      : []),
  ];
}

function randomLabels(random: Random): string[] {
  return LABEL_POOL.filter(() => random.chance(0.35));
}

/** A Spacelift account's life: stacks and spaces created, moved, relabelled, deleted, re-created. */
export function generateHistory(random: Random, options: ScenarioOptions): HistoryEvent[] {
  const spaceIds = Array.from({ length: options.spaces }, (_, index) => spaceIdFor(index));
  const stackIds = stackIdsFor(options.stacks, options.switchSplit !== true);
  const spaces = new Map<SpaceId, boolean>();
  const stacks = new Map<StackId, { space: SpaceId; labels: string[] }>();
  const omitRate = options.omitRate ?? 0.2;
  const events: HistoryEvent[] = [];
  let clock = 1_764_000_000_000;
  const livingSpaces = (): SpaceId[] => [
    "root" as SpaceId,
    ...spaceIds.filter((id) => spaces.get(id) === true),
  ];
  const push = (
    action: ResourceAction,
    group: string,
    payload: Record<string, unknown>,
    change: SpaceliftChange,
  ) => {
    events.push({
      index: events.length,
      timestamp: clock,
      group,
      action,
      body: JSON.stringify(payload),
      change,
    });
  };
  // With two accounts, the squatted stacks stay where their decoys are: the service's account.
  const squatted = new Set<string>([SQUATTED_ROLE, SQUATTED_PATH, SQUATTED_PARAMETER]);
  const spacesFor = (stack: StackId): SpaceId[] =>
    options.accounts === 2 && squatted.has(stack)
      ? livingSpaces().filter((space) => !isRoutedSpaceIndex(spaceIds.indexOf(space)))
      : livingSpaces();
  while (events.length < options.events) {
    clock += 1 + random.int(90_000);
    if (random.chance(0.25)) {
      const space = random.pick(spaceIds);
      const group = `space:${space}`;
      const action: ResourceAction = !spaces.get(space)
        ? "space.create"
        : random.chance(0.65)
          ? "space.update"
          : "space.delete";
      spaces.set(space, action !== "space.delete");
      const labels = randomLabels(random);
      push(
        action,
        group,
        auditEvent(action, { account: ACCOUNT, space, labels, timestamp: clock }),
        action === "space.delete"
          ? { kind: "space", id: space }
          : { kind: "space", id: space, space: { labels } },
      );
      continue;
    }
    const stack = random.pick(stackIds);
    const group = `stack:${stack}`;
    const current = stacks.get(stack);
    if (current === undefined) {
      // Spacelift puts a stack created without a space in the root space.
      const named = random.chance(0.8);
      const space = named ? random.pick(spacesFor(stack)) : ("root" as SpaceId);
      const labels = randomLabels(random);
      stacks.set(stack, { space, labels });
      push(
        "stack.create",
        group,
        auditEvent("stack.create", {
          account: ACCOUNT,
          stack,
          space: named ? space : null,
          labels,
          timestamp: clock,
        }),
        { kind: "stack", id: stack, stack: { space, labels } },
      );
    } else if (random.chance(0.75)) {
      const space = random.chance(0.35) ? random.pick(spacesFor(stack)) : current.space;
      const labels = random.chance(0.5) ? randomLabels(random) : current.labels;
      // An update may leave unsaid what it does not change.
      const omitSpace = space === current.space && random.chance(omitRate);
      const omitLabels = labels === current.labels && random.chance(omitRate);
      stacks.set(stack, { space, labels });
      const payload = auditEvent("stack.update", {
        account: ACCOUNT,
        stack,
        space: omitSpace ? null : space,
        labels,
        timestamp: clock,
      });
      if (omitLabels) {
        (payload.data as { args: { Input: Record<string, unknown> } }).args.Input.Labels = null;
      }
      push("stack.update", group, payload, { kind: "stack", id: stack, stack: { space, labels } });
    } else {
      stacks.delete(stack);
      push(
        "stack.delete",
        group,
        auditEvent("stack.delete", { account: ACCOUNT, stack, timestamp: clock }),
        { kind: "stack", id: stack },
      );
    }
  }
  return events;
}

/**
 * One `stack.update` per stack alive at the end of the history (its newest event is not a
 * delete), newer than every event and saying neither space nor labels: it changes nothing the
 * model knows, but converges the stack once more under the configuration of the day.
 */
export function touchLivingStacks(history: readonly HistoryEvent[]): HistoryEvent[] {
  const newest = new Map<string, HistoryEvent>();
  for (const event of history) {
    const known = newest.get(event.group);
    if (known === undefined || known.timestamp <= event.timestamp) newest.set(event.group, event);
  }
  let clock = Math.max(...history.map(({ timestamp }) => timestamp));
  const touches: HistoryEvent[] = [];
  for (const [group, event] of newest) {
    if (!group.startsWith("stack:") || event.action === "stack.delete") continue;
    clock += 1000;
    const payload = auditEvent("stack.update", {
      account: ACCOUNT,
      stack: group.slice("stack:".length),
      space: null,
      timestamp: clock,
    });
    (payload.data as { args: { Input: Record<string, unknown> } }).args.Input.Labels = null;
    touches.push({
      index: history.length + touches.length,
      timestamp: clock,
      group,
      action: "stack.update",
      body: JSON.stringify(payload),
    });
  }
  return touches;
}

/**
 * Spacelift's webhook gives no order guarantee and may deliver twice: each event is delivered
 * once or more, most a little late, some very late; the queue keeps the order it received.
 */
export function scheduleDeliveries(
  random: Random,
  events: readonly HistoryEvent[],
  duplicateRate: number,
): HistoryEvent[] {
  return scheduleTimedDeliveries(random, events, duplicateRate).map(({ event }) => event);
}

/** A delivery and when it happens, in units of the history's events (event `i` happens at `i`). */
interface TimedDelivery {
  readonly event: HistoryEvent;
  readonly at: number;
}

function scheduleTimedDeliveries(
  random: Random,
  events: readonly HistoryEvent[],
  duplicateRate: number,
): TimedDelivery[] {
  const deliveries: TimedDelivery[] = [];
  for (const event of events) {
    const copies = 1 + (random.chance(duplicateRate) ? 1 + random.int(2) : 0);
    for (let copy = 0; copy < copies; copy++) {
      const roll = random.next();
      const lateness =
        roll < 0.6
          ? random.next() * 2
          : roll < 0.9
            ? random.next() * 15
            : random.next() * (events.length / 2);
      deliveries.push({ event, at: event.index + lateness });
    }
  }
  return deliveries.sort((a, b) => a.at - b.at);
}

// ---------------------------------------------------------------------------------------------
// The queue: SQS FIFO semantics, simulated

export interface QueuedMessage {
  readonly id: number;
  readonly body: string;
  readonly group: string;
  receives: number;
  lastError?: unknown;
}

export interface DrainOptions {
  readonly concurrency: number;
  readonly maxReceives: number;
  /** Called when a receive throws, before the message is redelivered or dead-lettered. */
  readonly onFailure?: (message: QueuedMessage, error: unknown) => void;
  /**
   * Receives after which the drain stops handing out messages (the rest stay queued, as while
   * the provisioner is still busy when more arrives); until the queue is empty by default.
   */
  readonly receiveLimit?: number;
}

/**
 * An SQS FIFO queue with a redrive policy, as the provisioner sees it: messages of one group are
 * handed out one at a time in order, and a message that fails stays at the head of its group
 * (blocking only that group) until it succeeds or has been received `maxReceives` times, when
 * it moves to the dead-letter queue. Groups are served round-robin, several at once.
 */
export class SimulatedFifoQueue {
  readonly #lanes = new Map<string, QueuedMessage[]>();
  readonly deadLetters: QueuedMessage[] = [];
  #sent = 0;
  receives = 0;
  redeliveries = 0;
  deadLettered = 0;

  send(message: { body: string; group: string }): void {
    const lane = this.#lanes.get(message.group) ?? [];
    lane.push({ id: this.#sent++, ...message, receives: 0 });
    this.#lanes.set(message.group, lane);
  }

  /** Moves dead-lettered messages back, in the order they arrived there (an SQS redrive). */
  redrive(): number {
    const moved = this.deadLetters.splice(0);
    for (const message of moved) {
      message.receives = 0;
      this.send(message);
    }
    return moved.length;
  }

  pending(): number {
    let count = 0;
    for (const lane of this.#lanes.values()) count += lane.length;
    return count;
  }

  /** Hands out messages until every group is empty (or dead-lettered). */
  async drain(
    handle: (message: QueuedMessage) => Promise<void>,
    options: DrainOptions,
  ): Promise<void> {
    const busy = new Set<string>();
    let cursor = 0;
    const nextGroup = (): string | undefined => {
      const groups = [...this.#lanes.keys()];
      for (let step = 0; step < groups.length; step++) {
        const group = groups[(cursor + step) % groups.length];
        if (group !== undefined && !busy.has(group) && (this.#lanes.get(group)?.length ?? 0) > 0) {
          cursor = (cursor + step + 1) % groups.length;
          return group;
        }
      }
      return undefined;
    };
    await new Promise<void>((resolve, reject) => {
      let running = 0;
      let launched = 0;
      const limit = options.receiveLimit ?? Number.POSITIVE_INFINITY;
      const launch = (): void => {
        while (running < options.concurrency && launched < limit) {
          const group = nextGroup();
          if (group === undefined) break;
          busy.add(group);
          running++;
          launched++;
          this.#receive(group, handle, options).then(() => {
            busy.delete(group);
            running--;
            launch();
          }, reject);
        }
        if (running === 0) resolve();
      };
      launch();
    });
  }

  async #receive(
    group: string,
    handle: (message: QueuedMessage) => Promise<void>,
    options: DrainOptions,
  ): Promise<void> {
    const lane = this.#lanes.get(group);
    const message = lane?.[0];
    if (lane === undefined || message === undefined) return;
    message.receives++;
    this.receives++;
    try {
      await handle(message);
      lane.shift();
    } catch (error) {
      message.lastError = error;
      this.redeliveries++;
      options.onFailure?.(message, error);
      if (message.receives >= options.maxReceives) {
        lane.shift();
        this.deadLetters.push(message);
        this.deadLettered++;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Decoys: roles and parameters we did not create

interface DecoySnapshot {
  readonly roles: Record<string, string>;
  readonly parameters: Record<string, string>;
  /** Whether the never-seen decoys were planted (see {@link Decoys}). */
  readonly neverSeen: boolean;
}

/**
 * Which decoys a seed plants. The never-seen ones carry our tags for a stack Spacelift does not
 * list: no event names them, so the provisioner must leave them alone, but a reconcile pass
 * rightly takes them for orphans (revoked, then deleted after the grace period; tested in
 * test/integration/reconcile/), so seeds with reconcile passes leave them out.
 */
interface Decoys {
  readonly neverSeen: boolean;
}

const FOREIGN_TRUST = {
  Version: "2012-10-17",
  Statement: [
    { Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" },
  ],
};

function decoyRoles(config: VendingConfig, decoys: Decoys) {
  const tag = (Key: string, Value: string) => ({ Key, Value });
  return [
    // Our name and path, not our tags: someone made it by hand.
    {
      name: stackRoleName(config, SQUATTED_ROLE as StackId),
      path: config.rolePath,
      tags: [tag("owner", "platform-team")],
      policy: DEFAULT_POLICY_ARNS[0],
    },
    // Our name and tags, another path: not ours either.
    {
      name: stackRoleName(config, SQUATTED_PATH as StackId),
      path: "/elsewhere/",
      tags: [
        tag(MANAGED_BY_TAG, MANAGED_BY_VALUE),
        tag(ACCOUNT_TAG, ACCOUNT),
        tag(STACK_TAG, SQUATTED_PATH),
      ],
      policy: undefined,
    },
    // Looks like ours, but no event ever names it: the provisioner has no business with it.
    {
      name: stackRoleName(config, NEVER_SEEN as StackId),
      path: config.rolePath,
      tags: [
        tag(MANAGED_BY_TAG, MANAGED_BY_VALUE),
        tag(ACCOUNT_TAG, ACCOUNT),
        tag(STACK_TAG, NEVER_SEEN),
      ],
      policy: undefined,
    },
    { name: "ci-deployer", path: "/", tags: [], policy: DEFAULT_POLICY_ARNS[1] },
  ].filter(({ name }) => decoys.neverSeen || name !== stackRoleName(config, NEVER_SEEN as StackId));
}

function decoyParameters(config: VendingConfig, decoys: Decoys) {
  const prefix = `${config.parameterPrefix}/${ACCOUNT}`;
  return [
    // Our parameter name, not our tags.
    {
      name: `${prefix}/stacks/${SQUATTED_PARAMETER}/role-arn`,
      value: `arn:aws:iam::${AWS_ACCOUNT_ID}:role/hand-made`,
      tags: [{ Key: "owner", Value: "platform-team" }],
    },
    {
      name: `${prefix}/stacks/${NEVER_SEEN}/role-arn`,
      value: `arn:aws:iam::${AWS_ACCOUNT_ID}:role/never-seen`,
      tags: [{ Key: MANAGED_BY_TAG, Value: MANAGED_BY_VALUE }],
    },
    // Outside our prefix.
    {
      name: `/elsewhere/${ACCOUNT}/stacks/svc-0/role-arn`,
      value: "arn:aws:iam::123456789012:role/other",
      tags: [],
    },
  ].filter(({ name }) => decoys.neverSeen || !name.includes(`/stacks/${NEVER_SEEN}/`));
}

async function plantDecoys(env: ConvergenceEnvironment, decoys: Decoys): Promise<void> {
  for (const role of decoyRoles(env.config, decoys)) {
    await env.inspect.iam.send(
      new CreateRoleCommand({
        RoleName: role.name,
        Path: role.path,
        AssumeRolePolicyDocument: JSON.stringify(FOREIGN_TRUST),
        Tags: role.tags,
      }),
    );
    if (role.policy !== undefined) {
      await env.inspect.iam.send(
        new AttachRolePolicyCommand({ RoleName: role.name, PolicyArn: role.policy }),
      );
    }
  }
  for (const parameter of decoyParameters(env.config, decoys)) {
    await env.inspect.ssm.send(
      new PutParameterCommand({
        Name: parameter.name,
        Value: parameter.value,
        Type: "String",
        ...(parameter.tags.length > 0 ? { Tags: parameter.tags } : {}),
      }),
    );
  }
}

async function snapshotDecoys(env: ConvergenceEnvironment, decoys: Decoys): Promise<DecoySnapshot> {
  const roles: Record<string, string> = {};
  for (const role of decoyRoles(env.config, decoys)) {
    roles[role.name] = stableJson(await env.inspect.roles.describe(role.name));
  }
  const parameters: Record<string, string> = {};
  for (const parameter of decoyParameters(env.config, decoys)) {
    parameters[parameter.name] = stableJson(await readParameter(env.inspect.ssm, parameter.name));
  }
  return { roles, parameters, neverSeen: decoys.neverSeen };
}

async function readParameter(ssm: SSMClient, name: string) {
  try {
    const { Parameter } = await ssm.send(new GetParameterCommand({ Name: name }));
    const { TagList } = await ssm.send(
      new ListTagsForResourceCommand({ ResourceType: "Parameter", ResourceId: name }),
    );
    return {
      value: Parameter?.Value,
      version: Parameter?.Version,
      tags: Object.fromEntries((TagList ?? []).map((tag) => [tag.Key ?? "", tag.Value ?? ""])),
    };
  } catch (error) {
    if ((error as Error).name === "ParameterNotFound") return undefined;
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// The model: what AWS should hold after the history

/** A parameter the model wants: the ARN it holds and the tags of its role. */
export interface ExpectedParameter {
  readonly role: string;
  readonly arn: string;
  readonly tags: RoleSpec["tags"];
}

/** What one AWS account should hold under the role path and the parameter prefix. */
export interface AccountHoldings {
  /** Role name → the spec it should match. */
  readonly roles: ReadonlyMap<string, RoleSpec>;
  /** Parameter name → what it should hold. */
  readonly parameters: ReadonlyMap<string, ExpectedParameter>;
}

export interface ExpectedState extends AccountHoldings {
  /**
   * Roles whose state the model does not assert. A stack whose parameter name someone else
   * holds: each of its events is dropped when the parameter is refused, after the role was
   * changed and before the ledger records the event, so its events are applied in delivery
   * order rather than timestamp order (see the report on ForeignResourceError and the ledger).
   */
  readonly unasserted: ReadonlySet<string>;
  /**
   * Each configured target account's holdings (none with one account): the roles routed there,
   * and their parameters when publishInTargetAccount (the default) says so. The service's
   * account (the fields above) holds every resource's parameter, naming the role wherever it is.
   */
  readonly targets: ReadonlyMap<string, AccountHoldings>;
}

/**
 * Per resource, the event with the greatest timestamp wins; a delete means absent. A stack's
 * space (and labels) is the last one said by any event of its history, as events may leave it
 * unsaid; the expected role is what role-spec.ts renders from those facts, in the account the
 * space routes to (account-routing.ts), with that account's provider and boundary.
 */
export function expectedState(
  config: VendingConfig,
  history: readonly HistoryEvent[],
): ExpectedState {
  const byResource = new Map<string, ResourceEvent[]>();
  for (const { body } of history) {
    const event = parseAuditEvent(body, {
      account: config.spaceliftAccount,
      defaultSpaceId: config.defaultSpaceId,
    });
    if (event.type === "ignored") continue;
    const list = byResource.get(eventResourceKey(event)) ?? [];
    list.push(event);
    byResource.set(eventResourceKey(event), list);
  }
  const service = config.awsAccountId;
  const publishInTarget = permissionsOf(config).publishInTargetAccount;
  const holdings = new Map<
    string,
    { roles: Map<string, RoleSpec>; parameters: Map<string, ExpectedParameter> }
  >();
  const holdingsOf = (account: string) => {
    let found = holdings.get(account);
    if (found === undefined) {
      found = { roles: new Map(), parameters: new Map() };
      holdings.set(account, found);
    }
    return found;
  };
  for (const account of [service, ...permissionsOf(config).accounts.map(({ id }) => id)]) {
    holdingsOf(account);
  }
  const unasserted = new Set([stackRoleName(config, SQUATTED_PARAMETER as StackId)]);
  for (const events of byResource.values()) {
    events.sort((a, b) => a.timestamp - b.timestamp);
    const last = events.at(-1);
    if (last === undefined || last.type.endsWith(".deleted")) continue;
    let binding: { role: RoleSpec; parameterName: string };
    let account: string;
    if (last.type === "stack.upserted") {
      // Someone else holds the role's name: nothing of ours may appear (the decoy is checked).
      if (last.stackId === SQUATTED_ROLE || last.stackId === SQUATTED_PATH) continue;
      let spaceId: SpaceId | undefined;
      let labels: readonly string[] | undefined;
      for (const event of events) {
        if (event.type !== "stack.upserted") continue;
        spaceId = event.spaceId ?? spaceId;
        labels = event.labels ?? labels;
      }
      account = accountFor(config, spaceId ?? config.defaultSpaceId);
      binding = stackBinding(configForAccount(config, account), {
        stackId: last.stackId,
        spaceId: spaceId ?? config.defaultSpaceId,
        labels,
      });
    } else if (last.type === "space.upserted") {
      account = accountFor(config, last.spaceId);
      binding = spaceBinding(configForAccount(config, account), { spaceId: last.spaceId });
    } else {
      continue;
    }
    if (unasserted.has(binding.role.name)) continue;
    const { role } = binding;
    const parameter = {
      role: role.name,
      arn: `arn:aws:iam::${account}:role${role.path}${role.name}`,
      tags: role.tags,
    };
    holdingsOf(account).roles.set(role.name, role);
    holdingsOf(service).parameters.set(binding.parameterName, parameter);
    if (account !== service && publishInTarget) {
      holdingsOf(account).parameters.set(binding.parameterName, parameter);
    }
  }
  const { [service]: own = holdingsOf(service), ...others } = Object.fromEntries(holdings);
  return { ...own, unasserted, targets: new Map(Object.entries(others)) };
}

/** Clean clients acting in one account, for inspection. */
interface InspectionClients {
  readonly iam: IAMClient;
  readonly ssm: SSMClient;
  readonly roles: IamRoleStore;
}

/**
 * Every difference between AWS (read without faults) and the expected state, in every account.
 * A parameter must carry exactly its role's tags.
 */
async function findProblems(
  env: ConvergenceEnvironment,
  expected: ExpectedState,
  decoys: DecoySnapshot,
  targets: ReadonlyMap<string, InspectionClients>,
): Promise<string[]> {
  const problems = await accountProblems(
    env.config,
    env.inspect,
    expected,
    {
      roles: new Set(Object.keys(decoys.roles)),
      parameters: new Set(Object.keys(decoys.parameters)),
      unasserted: expected.unasserted,
    },
    boundaryOf(env.config.awsAccountId),
  );
  for (const [account, want] of expected.targets) {
    const clients = targets.get(account);
    if (clients === undefined) throw new Error(`no inspection clients for account ${account}`);
    const found = await accountProblems(
      env.config,
      clients,
      want,
      { roles: new Set(), parameters: new Set(), unasserted: expected.unasserted },
      boundaryOf(account),
    );
    problems.push(...found.map((problem) => `account ${account}: ${problem}`));
  }
  const after = await snapshotDecoys(env, decoys);
  for (const [name, before] of Object.entries(decoys.roles)) {
    if (after.roles[name] !== before)
      problems.push(`decoy role ${name} was touched: ${before} → ${after.roles[name]}`);
  }
  for (const [name, before] of Object.entries(decoys.parameters)) {
    if (after.parameters[name] !== before) {
      problems.push(`decoy parameter ${name} was touched: ${before} → ${after.parameters[name]}`);
    }
  }
  return problems;
}

/** The boundary the scenario created in an account; every role there must carry it. */
function boundaryOf(account: string): string {
  const boundary = BOUNDARY_OF_ACCOUNT.get(account);
  if (boundary === undefined || boundary === "") {
    throw new Error(`the scenario created no permissions boundary in account ${account}`);
  }
  return boundary;
}

/**
 * How one account differs from what it should hold; what `ignored` names is not ours to judge.
 * Every expected role must carry the account's boundary, in its spec and in IAM: a role created
 * without it (or a spec rendered without it) is a difference.
 */
async function accountProblems(
  config: VendingConfig,
  clients: InspectionClients,
  expected: AccountHoldings,
  ignored: {
    readonly roles: ReadonlySet<string>;
    readonly parameters: ReadonlySet<string>;
    readonly unasserted: ReadonlySet<string>;
  },
  boundaryArn: string,
): Promise<string[]> {
  const problems: string[] = [];
  for (const [name, spec] of expected.roles) {
    if (spec.permissionsBoundaryArn !== boundaryArn) {
      problems.push(
        `role ${name}: rendered with permissions boundary ${stableJson(spec.permissionsBoundaryArn)}, not the account's ${boundaryArn}`,
      );
    }
    const actual = await clients.roles.describe(name);
    if (actual === undefined) {
      problems.push(`role ${name} is missing`);
      continue;
    }
    problems.push(...roleDifferences(actual, { ...spec, permissionsBoundaryArn: boundaryArn }));
  }
  for (const role of await listRoles(clients.iam, config.rolePath)) {
    const name = role.RoleName ?? "";
    if (!expected.roles.has(name) && !ignored.roles.has(name) && !ignored.unasserted.has(name)) {
      problems.push(`role ${name} should not exist`);
    }
  }
  for (const [name, want] of expected.parameters) {
    const actual = await readParameter(clients.ssm, name);
    const tags = actual?.tags ?? {};
    if (actual === undefined) problems.push(`parameter ${name} is missing`);
    else if (actual.value !== want.arn) {
      problems.push(`parameter ${name} holds ${actual.value}, not ${want.arn}`);
    } else if (stableJson(tags) !== stableJson(want.tags)) {
      problems.push(`parameter ${name} has tags ${stableJson(tags)}, not ${stableJson(want.tags)}`);
    }
  }
  for await (const page of paginateGetParametersByPath(
    { client: clients.ssm },
    { Path: config.parameterPrefix, Recursive: true },
  )) {
    for (const parameter of page.Parameters ?? []) {
      const name = parameter.Name ?? "";
      if (!expected.parameters.has(name) && !ignored.parameters.has(name)) {
        problems.push(`parameter ${name} should not exist`);
      }
    }
  }
  return problems;
}

/** How a role differs from its spec, one line per field; empty when it matches. */
export function roleDifferences(actual: ObservedRole, spec: RoleSpec): string[] {
  const fields: [string, unknown, unknown][] = [
    ["path", actual.path, spec.path],
    ["description", actual.description, spec.description],
    ["maxSessionDuration", actual.maxSessionDuration, spec.maxSessionDuration],
    ["trust policy", actual.trustPolicy, spec.trustPolicy],
    ["permissions boundary", actual.permissionsBoundaryArn, spec.permissionsBoundaryArn],
    ["managed policies", [...actual.managedPolicyArns].sort(), [...spec.managedPolicyArns].sort()],
    ["inline policies", actual.inlinePolicies, spec.inlinePolicies],
    ["tags", actual.tags, spec.tags],
  ];
  return fields
    .filter(([, have, want]) => stableJson(have) !== stableJson(want))
    .map(
      ([field, have, want]) =>
        `role ${spec.name}: ${field} is ${stableJson(have)}, expected ${stableJson(want)}`,
    );
}

async function listRoles(iam: IAMClient, path: string): Promise<Role[]> {
  const roles: Role[] = [];
  for await (const page of paginateListRoles({ client: iam }, { PathPrefix: path })) {
    roles.push(...(page.Roles ?? []).filter((role) => role.Path === path));
  }
  return roles;
}

/** JSON with object keys sorted. */
export function stableJson(value: unknown): string {
  return (
    JSON.stringify(value, (_key, inner: unknown) =>
      inner !== null && typeof inner === "object" && !Array.isArray(inner)
        ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
        : inner,
    ) ?? "undefined"
  );
}

// ---------------------------------------------------------------------------------------------
// One seed

/** The names the resource's role(s) may have: a stack's in every shape. */
function roleNamesOfGroup(config: VendingConfig, group: string): readonly string[] {
  const [kind, id] = group.split(":") as [string, string];
  return kind === "stack"
    ? stackRoleNames(config, id as StackId)
    : [spaceRoleName(config, id as SpaceId)];
}

function describeOutcome(outcome: QueueMessageOutcome): string {
  switch (outcome.result) {
    case "applied":
      return outcome.outcome.result;
    case "dropped":
      return `dropped: ${outcome.error.name}`;
    case "ignored":
      return "ignored";
    case "ordered":
      return `reconcile order: ${outcome.outcome.result}`;
  }
}

/** Stack events that put a living stack in a space of another account than its last one. */
function countCrossAccountMoves(config: VendingConfig, history: readonly HistoryEvent[]): number {
  const accounts = new Map<string, string>();
  let moves = 0;
  for (const { change } of history) {
    if (change?.kind !== "stack") continue;
    if (change.stack === undefined) {
      accounts.delete(change.id);
      continue;
    }
    const account = accountFor(config, change.stack.space as SpaceId);
    const before = accounts.get(change.id);
    if (before !== undefined && before !== account) moves++;
    accounts.set(change.id, account);
  }
  return moves;
}

/** The root space as a history event: no webhook names it, but Spacelift lists it. */
function rootSpaceEvent(timestamp: number): HistoryEvent {
  return {
    index: -1,
    timestamp,
    group: "space:root",
    action: "space.create",
    body: JSON.stringify(
      auditEvent("space.create", { account: ACCOUNT, space: "root", labels: [], timestamp }),
    ),
  };
}

/** How often a new container's first AssumeRole calls are throttled (1 to 10 in a row). */
const ASSUME_ROLE_THROTTLE_RATE = 0.25;
/** Longest a pass takes, in minutes of the history's clock, once it has read its listing. */
const MAX_PASS_MINUTES = 20;

export async function runConvergenceSeed(
  env: ConvergenceEnvironment,
  options: ScenarioOptions,
): Promise<SeedReport> {
  const started = Date.now();
  const { faults, counter } = env;
  const twoAccounts = options.accounts === 2;
  const passes = options.reconcilePasses ?? 0;
  if (options.switchSplit && (twoAccounts || passes > 0)) {
    throw new Error("switchSplit runs with one account and without reconcile passes");
  }
  const config = twoAccounts
    ? await twoAccountConfig({
        hostname: SPACELIFT_HOST,
        serviceAccountId: AWS_ACCOUNT_ID,
        spaces: options.spaces,
        policyArns: DEFAULT_POLICY_ARNS,
        boundaryArn: SERVICE_BOUNDARY_ARN,
      })
    : env.config;
  const random = createRandom(options.seed);
  // Draws for passes and the second account come from their own sequence, so that a seed's
  // history, deliveries and fault schedule stay what they are without them.
  const extraRandom = createRandom(options.seed * 7919 + 17);
  faults.enabled = false;
  await env.moto.reset();
  const resources = await createLocalAwsResources({
    endpoint: env.moto.endpoint,
    spaceliftHostname: SPACELIFT_HOST,
  });
  if (resources.permissionsBoundaryArn !== SERVICE_BOUNDARY_ARN) {
    throw new Error(
      `the scenario configures boundary ${SERVICE_BOUNDARY_ARN}, but moto holds ${resources.permissionsBoundaryArn}`,
    );
  }
  const cleanups: (() => unknown)[] = [];
  try {
    const targets = new Map<string, InspectionClients>();
    if (twoAccounts) {
      const inspection = await prepareTargetAccount(env.moto.endpoint, SPACELIFT_HOST);
      cleanups.push(() => inspection.close());
      targets.set(TARGET_ACCOUNT_ID, { ...inspection, roles: new IamRoleStore(inspection.iam) });
    }
    const decoyPlan: Decoys = { neverSeen: passes === 0 };
    await plantDecoys(env, decoyPlan);
    const decoys = await snapshotDecoys(env, decoyPlan);

    const history = generateHistory(random, options);
    const deliveries = scheduleTimedDeliveries(random, history, options.duplicateRate ?? 0.15);
    const queue = new SimulatedFifoQueue();
    // The configuration each receive is deployed with (see ScenarioOptions.switchSplit).
    const split = options.switchSplit ? await splitConfig() : config;
    let received = 0;
    const configOfReceive = (): VendingConfig => {
      received++;
      const on = received > deliveries.length / 3 && received <= (2 * deliveries.length) / 3;
      return on ? split : config;
    };

    const world = passes > 0 ? await SpaceliftFollowingHistory.start(history) : undefined;
    if (world !== undefined) cleanups.push(() => world.close());
    const ledger = new DynamoDbLedger(dynamodbClient(), resources.ledgerTable);
    let waits = 0;
    // Never a fixed pause: the core asks for growing delays; yielding is enough against moto.
    const sleep = async () => {
      waits++;
      await new Promise((resolve) => setImmediate(resolve));
    };
    const base: ProvisionerDeps = {
      config,
      roles: new IamRoleStore(iamClient()),
      parameters: new SsmParameterStore(ssmClient()),
      ledger,
      sleep,
      // The history's clock: reconcile orders are checked against it (grace periods).
      ...(world !== undefined && { now: () => new Date(world.now) }),
    };
    const accessClients: { destroy(): void }[] = [];
    cleanups.push(() => {
      for (const client of accessClients) client.destroy();
    });
    const accesses: StsAccountAccess[] = [];
    /**
     * The provisioner's deps in a new Lambda container: with two accounts, a new
     * StsAccountAccess (no credentials cached), whose first AssumeRole is sometimes throttled,
     * now and then past the SDK's attempts.
     */
    const newContainer = (): ProvisionerDeps => {
      if (!twoAccounts) return base;
      const access = containerAccountAccess(config, { faults, counter }, accessClients);
      accesses.push(access);
      if (extraRandom.chance(ASSUME_ROLE_THROTTLE_RATE)) {
        faults.force({
          service: "sts",
          operation: "AssumeRole",
          kind: "throttling",
          times: 1 + extraRandom.int(10),
        });
      }
      return { ...base, accounts: access };
    };
    let deps = newContainer();
    // With the split switched: a stack whose unsplit role cannot be deleted until the first drain
    // is over, so switching it to the split fails half-way (the pair created, the old role kept)
    // and its messages are retried, or dead-lettered and redriven, once the split is off again.
    const halfWay = options.switchSplit
      ? random.pick(
          [...new Set(history.map((event) => event.group))].filter((group) =>
            group.startsWith("stack:svc-"),
          ),
        )
      : undefined;
    let halfWayFailures = 0;
    const outcomes: Record<string, number> = {};
    const unexpectedDrops: string[] = [];
    const handle = async (message: QueuedMessage) => {
      const deployed = configOfReceive();
      const outcome = await processQueueMessage(message.body, { ...deps, config: deployed }).catch(
        (error: unknown) => {
          if (deployed === split && message.group === halfWay && /DeleteRole/.test(String(error))) {
            halfWayFailures++;
          }
          throw error;
        },
      );
      const described = describeOutcome(outcome);
      outcomes[described] = (outcomes[described] ?? 0) + 1;
      const squatted = [SQUATTED_ROLE, SQUATTED_PATH, SQUATTED_PARAMETER].some(
        (stack) => message.group === `stack:${stack}`,
      );
      if (outcome.result === "dropped" && !squatted) {
        unexpectedDrops.push(`${message.group}: dropped (${outcome.reason})`);
      }
    };
    const drainOptions: DrainOptions = {
      concurrency: options.concurrency ?? 4,
      maxReceives: options.maxReceives ?? 5,
      // The visibility timeout passes before a redelivery: IAM has caught up by then.
      onFailure: (message) => {
        for (const name of roleNamesOfGroup(config, message.group)) faults.settle(name);
      },
    };

    faults.reset({ seed: options.seed, ...(options.faults ?? DEFAULT_FAULTS) });
    counter.reset();
    // A poison resource: every IAM call for its role fails until the first drain is over, so its
    // messages end in the dead-letter queue while the other resources' messages go through.
    const poison = random.pick(
      [...new Set(history.map((event) => event.group))].filter((group) =>
        group.startsWith("stack:svc-"),
      ),
    );
    for (const target of roleNamesOfGroup(config, poison)) {
      faults.force({ service: "iam", target, kind: "unretried", times: Number.POSITIVE_INFINITY });
    }
    if (halfWay !== undefined && halfWay !== poison) {
      faults.force({
        service: "iam",
        operation: "DeleteRole",
        target: stackRoleName(config, halfWay.slice("stack:".length) as StackId),
        kind: "unretried",
        times: Number.POSITIVE_INFINITY,
      });
    }
    const planQueue = new SimulatedPlanQueue(queue);
    const passReports: ReconcileReport[] = [];
    const passFailures: string[] = [];
    const reconcilePass = async (duration: number) => {
      if (world === undefined) return;
      try {
        passReports.push(
          await runReconcilePass(world, { config, ledger, queue: planQueue, duration, sleep }),
        );
      } catch (error) {
        // An inventory the injected faults made fail: the pass plans nothing, as it should.
        passFailures.push(String(error));
      }
    };
    faults.enabled = true;
    // Where passes start (after that many deliveries) and how long each plans, in history time.
    // The last one comes in the final tenth of the deliveries: a pass that undid a webhook
    // there leaves the damage for the model to see, with no later event of the resource to
    // mend it.
    const points = new Set<number>();
    const tail = Math.max(1, Math.floor(deliveries.length / 10));
    const tailPoint =
      passes > 0 && deliveries.length > 1
        ? deliveries.length - 1 - extraRandom.int(Math.min(tail, deliveries.length - 1))
        : undefined;
    if (tailPoint !== undefined) points.add(tailPoint);
    while (points.size < Math.min(passes, deliveries.length - 1)) {
      points.add(1 + extraRandom.int(deliveries.length - 1));
    }
    let sent = 0;
    for (const point of [...points].sort((a, b) => a - b)) {
      const segment = point - sent;
      for (; sent < point; sent++) {
        const { event } = deliveries[sent] as TimedDelivery;
        queue.send({ body: event.body, group: event.group });
      }
      // What Spacelift holds now: every event up to the last delivery has happened.
      world?.advanceTo(Math.floor((deliveries[point - 1] as TimedDelivery).at) + 1);
      deps = newContainer();
      // The provisioner works through part of what is queued while the pass runs.
      await Promise.all([
        queue.drain(handle, { ...drainOptions, receiveLimit: segment }),
        reconcilePass(
          (point === tailPoint ? MAX_PASS_MINUTES : 1 + extraRandom.int(MAX_PASS_MINUTES)) * 60_000,
        ),
      ]);
    }
    for (; sent < deliveries.length; sent++) {
      const { event } = deliveries[sent] as TimedDelivery;
      queue.send({ body: event.body, group: event.group });
    }
    deps = newContainer();
    await queue.drain(handle, drainOptions);
    const poisonDeadLettered = queue.deadLetters.filter(
      (message) => message.group === poison,
    ).length;
    const othersDeadLettered = queue.deadLetters.filter((message) => message.group !== poison);
    faults.heal();
    // An operator redrives the dead-letter queue once the cause is fixed; faults still strike.
    const redrive = async () => {
      for (let round = 0; round < 3 && queue.deadLetters.length > 0; round++) {
        queue.redrive();
        deps = newContainer();
        await queue.drain(handle, drainOptions);
      }
    };
    await redrive();
    const touches = options.switchSplit ? touchLivingStacks(history) : [];
    if (touches.length > 0) {
      for (const event of touches) queue.send({ body: event.body, group: event.group });
      await queue.drain(handle, drainOptions);
      await redrive();
    }
    // Spacelift's root space exists from the start: once a pass has listed it, it has a role.
    const rootListed = (): HistoryEvent[] =>
      passReports.length > 0 ? [rootSpaceEvent((history[0]?.timestamp ?? 0) - 1000)] : [];
    const expected = () => expectedState(config, [...rootListed(), ...history, ...touches]);
    const deadLettered = () =>
      queue.deadLetters.map(
        (message) =>
          `${message.group}: still dead-lettered after redrives (${String(message.lastError)})`,
      );
    const problems: string[] = [];
    if (world !== undefined) {
      // Every delivery is in: the passes so far must not have undone any newer webhook.
      faults.enabled = false;
      const before = [...deadLettered(), ...(await findProblems(env, expected(), decoys, targets))];
      problems.push(...before.map((problem) => `before the final reconcile pass: ${problem}`));
      faults.enabled = true;
      // One last pass, well after the last event, over Spacelift's final state.
      world.advanceTo(history.length);
      world.advanceUntil(world.now + 60 * 60_000);
      await reconcilePass(0);
      deps = newContainer();
      await queue.drain(handle, drainOptions);
      await redrive();
    }
    faults.enabled = false;

    problems.push(
      ...unexpectedDrops,
      ...deadLettered(),
      ...(poisonDeadLettered === 0
        ? [`poison resource ${poison} never reached the dead-letter queue`]
        : []),
      ...(await findProblems(env, expected(), decoys, targets)),
    );
    return {
      seed: options.seed,
      events: history.length,
      deliveries: deliveries.length,
      receives: queue.receives,
      redeliveries: queue.redeliveries,
      deadLettered: queue.deadLettered,
      poisonDeadLettered,
      halfWayFailures,
      outcomes: { ...outcomes, "dead-lettered (not poison)": othersDeadLettered.length },
      injected: faults.injected(),
      sdk: counter.totals(),
      waits,
      reconcile: {
        passes: passReports.length + passFailures.length,
        failed: passFailures.length,
        enqueued: planQueue.enqueued,
        passesThatEnqueued: passReports.filter((report) => report.counts.enqueued > 0).length,
      },
      assumeRoleCalls: accesses.reduce((sum, access) => sum + access.assumeRoleCalls, 0),
      crossAccountMoves: countCrossAccountMoves(config, history),
      problems,
      durationMs: Date.now() - started,
    };
  } finally {
    faults.enabled = false;
    for (const cleanup of cleanups) await cleanup();
  }
}

/** One line per seed, then the totals. */
export function summarize(reports: readonly SeedReport[]): string {
  const injected = emptyFaultCounts();
  let events = 0;
  let deliveries = 0;
  let receives = 0;
  let redeliveries = 0;
  let deadLettered = 0;
  let calls = 0;
  let attempts = 0;
  let problems = 0;
  let passes = 0;
  let passMessages = 0;
  let assumeRoleCalls = 0;
  const lines = reports.map((report) => {
    events += report.events;
    deliveries += report.deliveries;
    receives += report.receives;
    redeliveries += report.redeliveries;
    deadLettered += report.deadLettered;
    calls += report.sdk.calls;
    attempts += report.sdk.attempts;
    problems += report.problems.length;
    let seedFaults = 0;
    for (const [kind, count] of Object.entries(report.injected) as [FaultKind, number][]) {
      injected[kind] += count;
      seedFaults += count;
    }
    passes += report.reconcile.passes;
    passMessages += report.reconcile.enqueued;
    assumeRoleCalls += report.assumeRoleCalls;
    const passed =
      report.reconcile.passes > 0
        ? `, ${report.reconcile.passes} reconcile passes (${report.reconcile.failed} failed, ${report.reconcile.enqueued} messages queued)`
        : "";
    const assumed =
      report.assumeRoleCalls > 0
        ? `, ${report.crossAccountMoves} moves between accounts, ${report.assumeRoleCalls} AssumeRole into the second account`
        : "";
    return `seed ${report.seed}: ${report.events} events, ${report.deliveries} deliveries, ${report.receives} receives (${report.redeliveries} failed, ${report.deadLettered} dead-lettered), ${seedFaults} faults injected, ${report.sdk.calls} SDK calls / ${report.sdk.attempts} attempts${passed}${assumed}${report.halfWayFailures > 0 ? `, ${report.halfWayFailures} split switches failed half-way` : ""}, ${report.problems.length} problems, ${(report.durationMs / 1000).toFixed(1)} s`;
  });
  const totalFaults = Object.values(injected).reduce((sum, count) => sum + count, 0);
  lines.push(
    `fault-injection convergence: ${reports.length} seeds, ${events} events, ${deliveries} deliveries (duplicates and reordering), ${receives} receives, ${redeliveries} redeliveries, ${deadLettered} dead-lettered then redriven; ${totalFaults} faults injected (${Object.entries(
      injected,
    )
      .map(([kind, count]) => `${kind} ${count}`)
      .join(
        ", ",
      )}); ${calls} SDK calls, ${attempts} HTTP attempts${passes > 0 ? `; ${passes} reconcile passes interleaved (${passMessages} messages queued)` : ""}${assumeRoleCalls > 0 ? `; ${assumeRoleCalls} AssumeRole calls` : ""}; ${problems} problems`,
  );
  return lines.join("\n");
}
