/**
 * Target accounts: what a create costs when the stack's space is routed to a second AWS account
 * (issue 13), counted by SDK middleware on the product's clients against moto_server, with
 * events driven through `processMessage`, the real adapters and the real StsAccountAccess.
 *
 * - cold: the first create for the account, which assumes its vending role;
 * - warm: the creates after it, on the cached credentials (IAM and SSM in the target account,
 *   plus the ARN published in the service's own account);
 * - amortisation: AssumeRole calls over `accountCreates` creates in one credential lifetime,
 *   and over a simulated clock that spans several lifetimes (one minute per create).
 */
import type { IAMClient } from "@aws-sdk/client-iam";
import type { SSMClient } from "@aws-sdk/client-ssm";
import { STSClient } from "@aws-sdk/client-sts";
import {
  accountClients,
  dynamodbClient,
  iamClient,
  ssmClient,
} from "../../functions/adapters/aws-clients.ts";
import {
  CREDENTIALS_REFRESH_MARGIN_MS,
  StsAccountAccess,
} from "../../functions/adapters/sts-account-access.ts";
import { stsClient } from "../../functions/adapters/sts-client.ts";
import { composeProvisioner } from "../../functions/compose.ts";
import type { AccountUsage } from "../../functions/core/ports.ts";
import { processMessage } from "../../functions/core/process-queue-message.ts";
import type { ProvisionerDeps } from "../../functions/core/provision.ts";
import { AccountRoleQuota } from "../../functions/core/role-quota.ts";
import { permissionsOf } from "../../functions/core/role-spec.ts";
import { ApiCallCounter, callsOf, type ServiceCalls } from "../../testkit/aws/api-calls.ts";
import { prepareLocalTargetAccounts } from "../../testkit/aws/local-accounts.ts";
import { localClientConfig } from "../../testkit/aws/local-aws.ts";
import { auditEvent } from "../../testkit/spacelift/events.ts";
import { ACCOUNT, MANAGED_POLICIES, withBenchAws } from "../lib/local-aws-env.ts";
import type { BenchOptions, Row, SectionResult } from "../lib/report.ts";

const POLICIES = 2;
const TARGET = "222222222222";
const ROUTED_SPACE = "production-01HND497T9JKR76MR3KA2CDJHP";
const SERVICE_SPACE = "platform-01HND497T9JKR76MR3KA2CDJHP";
/** The simulated clock's step between creates in the lifetime scenario. */
const MINUTE = 60_000;
/** AssumeRole's DurationSeconds defaults to 3,600 s (AWS STS API reference, AssumeRole). */
const SESSION_MINUTES = 60;

/** The permissions file of the run: production spaces go to 222222222222. */
export function benchPermissions(): string {
  return JSON.stringify({
    version: 1,
    accounts: [
      {
        id: TARGET,
        vendingRoleArn: `arn:aws:iam::${TARGET}:role/spacelift-role-vending/spacelift-role-vending`,
        spaces: ["production-*"],
        permissionsBoundaryArn: `arn:aws:iam::${TARGET}:policy/spacelift-role-vending/spacelift-role-vending-boundary`,
      },
    ],
    default: { managedPolicyArns: MANAGED_POLICIES.slice(0, POLICIES) },
  });
}

/** Calls of one create, by account. */
export interface CreateCalls {
  readonly outcome: string;
  readonly assumeRole: number;
  /** IAM and SSM in the target account. */
  readonly target: { readonly iam: ServiceCalls; readonly ssm: ServiceCalls };
  /** IAM and SSM in the service's own account (the ARN published there, its role quota). */
  readonly service: { readonly iam: ServiceCalls; readonly ssm: ServiceCalls };
}

export interface AccountsMeasurement {
  readonly serviceCreate: CreateCalls;
  readonly cold: CreateCalls;
  readonly warm: readonly CreateCalls[];
  /** AssumeRole calls over `creates` creates within one credential lifetime. */
  readonly lifetime: { readonly creates: number; readonly assumeRole: number };
  /** AssumeRole calls over creates one simulated minute apart. */
  readonly clock: {
    readonly creates: number;
    readonly minutes: number;
    readonly credentialMinutes: number;
    readonly assumeRole: number;
    readonly bound: number;
  };
}

export async function run(options: BenchOptions): Promise<SectionResult> {
  return report(await measureAccounts(options.accountCreates));
}

/** Runs the scenarios against a fresh moto_server (sets process.env, as the handlers need). */
export async function measureAccounts(
  creates: number,
  clockCreates = 150,
): Promise<AccountsMeasurement> {
  return withBenchAws({ boundary: true }, async (moto) => {
    Object.assign(process.env, { DEFAULT_POLICY_ARNS: "", PERMISSIONS_CONFIG: benchPermissions() });
    // What npm start sets up in the target account: provider, boundary, vending role.
    await prepareLocalTargetAccounts(process.env, { endpoint: moto.endpoint });
    const composed = await composeProvisioner(process.env);
    const service = new ApiCallCounter();
    const target = new ApiCallCounter();
    for (const client of [iamClient(), ssmClient(), dynamodbClient(), stsClient()]) {
      service.attach(client);
    }

    let clock = 1_764_000_000_000;
    const create = async (
      deps: ProvisionerDeps,
      access: StsAccountAccess,
      stack: string,
      space: string,
    ) => {
      clock += 1000;
      const body = JSON.stringify(
        auditEvent("stack.create", { account: ACCOUNT, stack, space, timestamp: clock }),
      );
      const before = access.assumeRoleCalls;
      const outer = await service.measure(() => target.measure(() => processMessage(body, deps)));
      const inner = outer.result;
      const result = inner.result;
      return {
        outcome:
          result.result === "applied"
            ? `role ${result.outcome.result}, parameter ${result.outcome.parameter ?? "-"}`
            : `${result.result}: ${result.reason}`,
        assumeRole: access.assumeRoleCalls - before,
        target: { iam: callsOf(inner.tally, "IAM"), ssm: callsOf(inner.tally, "SSM") },
        service: { iam: callsOf(outer.tally, "IAM"), ssm: callsOf(outer.tally, "SSM") },
      };
    };

    // The product's wiring (compose.ts), with the target account's clients counted.
    const accessWith = (now: () => number, sts = stsClient()) =>
      new StsAccountAccess(
        sts,
        permissionsOf(composed.config).accounts,
        (accountId, credentials) => {
          const clients = accountClients(accountId, credentials);
          attachAll(target, clients);
          return clients;
        },
        now,
        (accountId: string, usage: AccountUsage) =>
          new AccountRoleQuota(accountId, usage, { now, observe: () => undefined }),
      );

    const access = accessWith(Date.now);
    const deps: ProvisionerDeps = { ...composed, accounts: access };
    const serviceCreate = await create(deps, access, "service-0", SERVICE_SPACE);
    const cold = await create(deps, access, "routed-0", ROUTED_SPACE);
    const warm: CreateCalls[] = [];
    for (let index = 1; index < creates; index++) {
      warm.push(await create(deps, access, `routed-${index}`, ROUTED_SPACE));
    }

    // A clock that moves one minute per create, over several credential lifetimes.
    let simulated = Date.now();
    const clockAccess = accessWith(
      () => simulated,
      stsOnClock(moto.endpoint, () => simulated),
    );
    const clockDeps: ProvisionerDeps = { ...composed, accounts: clockAccess };
    for (let index = 0; index < clockCreates; index++) {
      await create(clockDeps, clockAccess, `clock-${index}`, ROUTED_SPACE);
      simulated += MINUTE;
    }
    const credentialMinutes = SESSION_MINUTES;
    const window = credentialMinutes - CREDENTIALS_REFRESH_MARGIN_MS / MINUTE;
    return {
      serviceCreate,
      cold,
      warm,
      lifetime: {
        creates,
        assumeRole: cold.assumeRole + warm.reduce((sum, calls) => sum + calls.assumeRole, 0),
      },
      clock: {
        creates: clockCreates,
        minutes: clockCreates,
        credentialMinutes,
        assumeRole: clockAccess.assumeRoleCalls,
        bound: Math.ceil(clockCreates / window),
      },
    };
  });
}

/**
 * An STS client whose sessions expire an hour after the simulated clock's now, as STS's
 * expire DurationSeconds (default 3,600) after they are issued: moto dates them by the wall
 * clock, which the simulated one outruns.
 */
function stsOnClock(endpoint: string, now: () => number): STSClient {
  const sts = new STSClient(localClientConfig(endpoint));
  sts.middlewareStack.add(
    (next) => async (args) => {
      const answer = await next(args);
      const output = answer.output as { Credentials?: { Expiration?: Date } };
      if (output.Credentials !== undefined) {
        output.Credentials.Expiration = new Date(now() + SESSION_MINUTES * MINUTE);
      }
      return answer;
    },
    { step: "initialize", name: "benchSessionOnSimulatedClock" },
  );
  return sts;
}

function attachAll(counter: ApiCallCounter, clients: { iam: IAMClient; ssm: SSMClient }): void {
  counter.attach(clients.iam);
  counter.attach(clients.ssm);
}

const total = (calls: { iam: ServiceCalls; ssm: ServiceCalls }) =>
  calls.iam.readCount + calls.iam.writeCount + calls.ssm.readCount + calls.ssm.writeCount;

function describe(calls: CreateCalls): string {
  const part = (label: string, service: ServiceCalls) => {
    const ops = { ...service.writes, ...service.reads };
    const list = Object.entries(ops)
      .map(([op, n]) => `${op} ${n}`)
      .join(", ");
    return `${label} ${service.writeCount + service.readCount}${list === "" ? "" : ` (${list})`}`;
  };
  return `AssumeRole ${calls.assumeRole}; target: ${part("IAM", calls.target.iam)}, ${part("SSM", calls.target.ssm)}; service: ${part("IAM", calls.service.iam)}, ${part("SSM", calls.service.ssm)}`;
}

export function report(measured: AccountsMeasurement): SectionResult {
  const { serviceCreate, cold, warm, lifetime, clock } = measured;
  const warmTotals = warm.map((calls) => total(calls.target) + total(calls.service));
  const warmStable = warmTotals.every((value) => value === warmTotals[0]);
  const firstWarm = warm[0];
  const baseline = total(serviceCreate.service);
  const rows: Row[] = [
    {
      metric: "stack.create in the service's account (baseline)",
      value: `${baseline} calls — ${describe(serviceCreate)}`,
    },
    {
      metric: "stack.create in a target account, cold (first for the account)",
      value: `${total(cold.target) + total(cold.service)} IAM+SSM calls + ${cold.assumeRole} AssumeRole — ${describe(cold)}`,
      target: "1 AssumeRole",
      met: cold.assumeRole === 1,
    },
    {
      metric: "stack.create in a target account, warm",
      value:
        firstWarm === undefined
          ? "not measured"
          : `${total(firstWarm.target) + total(firstWarm.service)} IAM+SSM calls + ${firstWarm.assumeRole} AssumeRole — ${describe(firstWarm)}${warmStable ? "" : " [varies between creates!]"}`,
      target: "0 AssumeRole",
      met: firstWarm !== undefined && warm.every((calls) => calls.assumeRole === 0),
    },
    {
      metric: `AssumeRole over ${lifetime.creates} creates in one credential lifetime`,
      value: String(lifetime.assumeRole),
      target: "1 (one per account per credential lifetime)",
      met: lifetime.assumeRole === 1,
    },
    {
      metric: `AssumeRole over ${clock.creates} creates, one simulated minute apart`,
      value: String(clock.assumeRole),
      target: `≤ ${clock.bound} (${clock.credentialMinutes}-minute sessions renewed 5 minutes early)`,
      met: clock.assumeRole <= clock.bound,
    },
    {
      metric: "reconcile pass over two accounts",
      value: "not measured: the reconciler does not inventory target accounts on this branch",
    },
  ];
  return {
    section: "accounts",
    title: `Target accounts (issue 13): calls per create in a second AWS account (${POLICIES} attached policies, boundary set)`,
    rows,
    notes: [
      "A create in a target account makes its IAM and SSM calls there with that account's clients (the vending role's session) and publishes the ARN in both accounts; the two accounts' SDK calls are counted apart. It costs 3× a create in the service's account: with no ledger entry yet, the stack is placed in the service's account by default, so the create also looks for (and would remove) its roles there (GetRole for the unsplit, read and write names, and their parameters) and, in the target account, for the read/write split's shapes (functions/core/account-placement.ts everyPlacement). A stack created in a routed space never had roles elsewhere; the ledger could say so and save these reads (not changed here).",
      "AssumeRole is made once per account and kept until 5 minutes before the session expires (functions/adapters/sts-account-access.ts); every later create in that account reuses it. The simulated-clock scenario steps the adapter's clock one minute per create and dates each session an hour after that clock (moto dates them by the wall clock), so the sessions expire and are renewed during the run.",
      "Each account's IAM role quota (GetAccountSummary) is read at most once a minute per account: the cold create pays the target's (the service's was read by the baseline create just before).",
    ],
    data: {
      attachedPolicies: POLICIES,
      serviceCreate,
      cold,
      // The first warm create in full; the others only as whether they cost the same.
      warm: {
        creates: warm.length,
        first: firstWarm,
        sameCallsEveryTime: warmStable,
        assumeRole: warm.reduce((sum, calls) => sum + calls.assumeRole, 0),
      },
      lifetime,
      clock,
    },
  };
}
