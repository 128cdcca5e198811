/**
 * The AWS accounts a pass reconciles: the service's own, and each target account of the
 * permissions file's `accounts`, reached through its vending role (AccountAccess: one
 * AssumeRole per account per credential lifetime). Each is inventoried with its own bulk
 * reads, and its role count and quota read once (GetAccountSummary).
 *
 * A target account that cannot be reached (AssumeRole denied, throttled or expired; an
 * inventory read failing) is unreachable for the pass: never taken as "no roles there".
 */
import { configForAccount } from "../account-routing.ts";
import type { VendingConfig } from "../config.ts";
import { ConfigurationError } from "../errors.ts";
import type { AccountUsage } from "../ports.ts";
import { describeError } from "./describe-error.ts";
import { type Inventory, type ManagedGroup, takeInventory } from "./inventory.ts";
import type { PassStores, ReconcilerDeps } from "./pass-state.ts";

/** One reachable account: its configuration as seen there, its stores, what it holds. */
export interface AccountScope {
  readonly account: string;
  /** The vending configuration as seen from this account (configForAccount). */
  readonly config: VendingConfig;
  /** The account's real stores (reads only, while planning). */
  readonly stores: PassStores;
  readonly inventory: Inventory;
}

/** An account's IAM role usage as read this pass, or why it could not be read. */
export type AccountRoleUsage =
  | { readonly account: string; readonly roles: number; readonly quota: number }
  | { readonly account: string; readonly error: string };

export interface UnreachableAccount {
  readonly account: string;
  readonly error: string;
}

export interface AccountsInventory {
  /** The service's own account first, then the reachable target accounts. */
  readonly scopes: readonly AccountScope[];
  readonly unreachable: readonly UnreachableAccount[];
  readonly usage: readonly AccountRoleUsage[];
}

/** A session name the vending role's CloudTrail entries show for the reconciler's reads. */
const SESSION_RESOURCE = "reconciler";

/**
 * Inventories every configured account. The service's own account failing fails the pass (as
 * it always has: nothing is decided); a target account failing makes it unreachable.
 */
export async function inventoryEveryAccount(deps: ReconcilerDeps): Promise<AccountsInventory> {
  const { config } = deps;
  const serviceInventory = await takeInventory(deps);
  const scopes: AccountScope[] = [];
  const unreachable: UnreachableAccount[] = [];
  const usage: AccountRoleUsage[] = [];
  usage.push(...(await readUsage(config.awsAccountId, deps.usage)));
  for (const target of config.permissions?.accounts ?? []) {
    try {
      if (deps.accounts === undefined) {
        throw new ConfigurationError(
          "the permissions file has accounts but the reconciler was wired without account access",
        );
      }
      const stores = await deps.accounts.storesFor(target.id, SESSION_RESOURCE);
      const accountConfig = configForAccount(config, target.id);
      const inventory = await takeInventory({ config: accountConfig, ...stores });
      scopes.push({ account: target.id, config: accountConfig, stores, inventory });
      usage.push(...(await readUsage(target.id, stores.usage)));
    } catch (error) {
      unreachable.push({ account: target.id, error: describeError(error) });
    }
  }
  const service: AccountScope = {
    account: config.awsAccountId,
    config,
    stores: { roles: deps.roles, parameters: deps.parameters },
    inventory: serviceInventory,
  };
  return {
    scopes: [withParametersOfTheirAccount(service, scopes, unreachable), ...scopes],
    unreachable,
    usage,
  };
}

async function readUsage(
  account: string,
  usage: AccountUsage | undefined,
): Promise<AccountRoleUsage[]> {
  if (usage === undefined) return [];
  try {
    return [{ account, ...(await usage.roleUsage()) }];
  } catch (error) {
    return [{ account, error: describeError(error) }];
  }
}

/** The AWS account of a role ARN (`arn:<partition>:iam::<account>:role/...`), if it is one. */
function accountOfRoleArn(value: string): string | undefined {
  return /^arn:aws[a-z-]*:iam::(\d{12}):role\//.exec(value)?.[1];
}

/**
 * The service's account publishes the ARNs of every account's roles. A parameter naming a
 * target account's role belongs with that account's roles: it joins that account's group (so
 * an orphan there is deleted with its service-side parameter, and a role counts as published),
 * and it leaves the service's groups (never a service-account orphan of its own). One naming an
 * unreachable account's role is left out of both: nothing is decided about it this pass.
 */
function withParametersOfTheirAccount(
  service: AccountScope,
  targets: readonly AccountScope[],
  unreachable: readonly UnreachableAccount[],
): AccountScope {
  const byAccount = new Map(targets.map((scope) => [scope.account, scope.inventory.groups]));
  const elsewhere = new Set([...byAccount.keys(), ...unreachable.map(({ account }) => account)]);
  const groups = new Map<string, ManagedGroup>();
  for (const [key, group] of service.inventory.groups) {
    const own: ManagedGroup["parameters"] = [];
    for (const parameter of group.parameters) {
      const account = accountOfRoleArn(parameter.value);
      if (account === undefined || !elsewhere.has(account)) {
        own.push(parameter);
        continue;
      }
      const targetGroups = byAccount.get(account);
      if (targetGroups === undefined) continue;
      const targetGroup = targetGroups.get(key) ?? { ...group, roles: [], parameters: [] };
      targetGroups.set(key, {
        ...targetGroup,
        parameters: [
          ...targetGroup.parameters.filter(({ name }) => name !== parameter.name),
          parameter,
        ],
      });
    }
    if (group.roles.length > 0 || own.length > 0) groups.set(key, { ...group, parameters: own });
  }
  return { ...service, inventory: { ...service.inventory, groups } };
}
