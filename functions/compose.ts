/**
 * Where real adapters are wired to the core for the provisioner and the reconciler, from an
 * environment record. Tests wire fakes through the same shapes (ProvisionerDeps,
 * ReconcilerDeps) and the handlers' createHandler. The receiver's wiring lives in
 * compose-receiver.ts so that its bundle does not carry the provisioner's configuration.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { accountClients, dynamodbClient, iamClient, ssmClient } from "./adapters/aws-clients.ts";
import { DynamoDbLedger } from "./adapters/dynamodb-ledger.ts";
import { DynamoDbSpacePaths } from "./adapters/dynamodb-space-paths.ts";
import { DynamoDbSpaceQuota } from "./adapters/dynamodb-space-quota.ts";
import { IamAccountUsage } from "./adapters/iam-account-usage.ts";
import { IamRoleStore } from "./adapters/iam-role-store.ts";
import { sqsClient } from "./adapters/sqs-client.ts";
import { SqsEventQueue } from "./adapters/sqs-event-queue.ts";
import { ssmSpaceliftAccess } from "./adapters/ssm-api-key.ts";
import { SsmParameterStore } from "./adapters/ssm-parameter-store.ts";
import {
  loadLedgerTable,
  loadMaxRolesPerSpace,
  loadVendingConfig,
  type VendingConfig,
} from "./core/config.ts";
import type { Env } from "./core/env.ts";
import type { AccountAccess, AccountUsage, SpaceRoleCap } from "./core/ports.ts";
import type { ProvisionerDeps } from "./core/provision.ts";
import type { ReconcilerDeps } from "./core/reconcile/pass-state.ts";
import { loadOrphanGracePeriodHours, loadReconcilerConfig } from "./core/reconcile/settings.ts";
import { AccountRoleQuota } from "./core/role-quota.ts";
import { isStackEnvironmentEnabled } from "./core/stack-environment.ts";
import { observeRoleQuota, roleQuotaUnreadable } from "./observability.ts";
import { toGraphqlEndpoint } from "./spacelift/transport.ts";

/**
 * The provisioner's dependencies. The permissions configuration (PERMISSIONS_CONFIG_FILE or
 * PERMISSIONS_CONFIG) is read and validated here, once per container: a bad file fails the
 * cold start with the offending path, before any event is touched.
 */
export async function composeProvisioner(env: Env): Promise<ProvisionerDeps> {
  const table = loadLedgerTable(env);
  const config = await loadVendingConfig(env);
  return {
    config,
    ...(await accountAccess(config, roleQuota)),
    roleQuota: roleQuota(config.awsAccountId, new IamAccountUsage(iamClient())),
    roles: new IamRoleStore(iamClient()),
    parameters: new SsmParameterStore(ssmClient()),
    ledger: new DynamoDbLedger(dynamodbClient(), table),
    spacePaths: new DynamoDbSpacePaths(dynamodbClient(), table),
    ...spaceRoleCap(env, table),
    orphanGracePeriodHours: loadOrphanGracePeriodHours(env),
    now: () => new Date(),
    sleep: (ms) => sleep(ms),
  };
}

/** The permissions file's target accounts. */
function accountList(config: VendingConfig) {
  return config.permissions?.accounts ?? [];
}

/**
 * The permissions file's target accounts, reached through STS; nothing without any. STS is
 * loaded only then (a dynamic import: a deployment with one account never loads its client).
 */
async function accountAccess(
  config: VendingConfig,
  quota?: typeof roleQuota,
): Promise<{ accounts?: AccountAccess }> {
  const accounts = accountList(config);
  if (accounts.length === 0) return {};
  const [{ StsAccountAccess }, { stsClient }] = await Promise.all([
    import("./adapters/sts-account-access.ts"),
    import("./adapters/sts-client.ts"),
  ]);
  return {
    accounts: new StsAccountAccess(stsClient(), accounts, accountClients, Date.now, quota),
  };
}

/** IAM's role quota of an account, read at most once a minute, published as a metric. */
function roleQuota(accountId: string, usage: AccountUsage): AccountRoleQuota {
  return new AccountRoleQuota(accountId, usage, {
    now: Date.now,
    observe: observeRoleQuota,
    unreadable: roleQuotaUnreadable,
  });
}

/** MAX_ROLES_PER_SPACE over the ledger table; nothing when it is `0` (no cap). */
function spaceRoleCap(env: Env, table: string): { spaceRoleCap?: SpaceRoleCap } {
  const maxRolesPerSpace = loadMaxRolesPerSpace(env);
  if (maxRolesPerSpace === 0) return {};
  return {
    spaceRoleCap: { quota: new DynamoDbSpaceQuota(dynamodbClient(), table), maxRolesPerSpace },
  };
}

/**
 * The reconciler's dependencies (Lambda and CLI). LEDGER_TABLE is optional here: with it, the
 * space names and parents Spacelift lists are recorded for the provisioner's `{spacePath}`.
 * EVENT_QUEUE_URL is where the plan goes (the provisioner's queue); without it a pass can only
 * plan (a dry run, or the CLI's `--apply`, which applies in-process).
 */
export async function composeReconciler(env: Env): Promise<ReconcilerDeps> {
  const config = await loadVendingConfig(env);
  const reconciler = loadReconcilerConfig(env);
  const table = env.LEDGER_TABLE?.trim() ? loadLedgerTable(env) : undefined;
  return {
    config,
    settings: reconciler.settings,
    roles: new IamRoleStore(iamClient()),
    parameters: new SsmParameterStore(ssmClient()),
    // Every configured account is inventoried through its vending role; no quota gate (the
    // reconciler creates nothing), but each account's usage is read once a pass.
    ...(await accountAccess(config)),
    usage: new IamAccountUsage(iamClient()),
    ...(table !== undefined && {
      spacePaths: new DynamoDbSpacePaths(dynamodbClient(), table),
      ledger: new DynamoDbLedger(dynamodbClient(), table),
      ...spaceRoleCap(env, table),
    }),
    ...(env.EVENT_QUEUE_URL?.trim() && {
      events: new SqsEventQueue(sqsClient(), env.EVENT_QUEUE_URL.trim()),
    }),
    spacelift: ssmSpaceliftAccess(ssmClient(), {
      parameterName: reconciler.apiKeyParameter,
      endpoint: reconciler.spaceliftEndpoint ?? toGraphqlEndpoint(config.spaceliftHostname),
      stackEnvironment: isStackEnvironmentEnabled(env),
    }),
    now: () => new Date(),
    sleep: (ms) => sleep(ms),
  };
}
