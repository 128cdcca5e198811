/**
 * Which AWS account a resource's roles live in, and what vending there looks like. A stack goes
 * to the first configured account whose `spaces` match the stack's space, a space to the first
 * whose `spaces` match its own ID; never by labels: whoever creates a stack controls its
 * labels, and a label must not move a role into another account. No match: the service's own
 * account, or (`defaultAccount: none`) a refusal.
 */
import type { VendingConfig } from "./config.ts";
import { AccountNotRoutedError } from "./errors.ts";
import { matchesSpace } from "./glob.ts";
import type { SpaceId } from "./identifiers.ts";
import type { GrantBlock, Permissions, TargetAccount } from "./permissions.ts";
import { permissionsOf } from "./role-spec.ts";

/** The configured target account that `spaceId` is routed to; undefined: the service's own. */
export function targetAccountFor(
  config: VendingConfig,
  spaceId: SpaceId,
): TargetAccount | undefined {
  const permissions = permissionsOf(config);
  const target = permissions.accounts.find((account) =>
    account.spaces.some((pattern) => matchesSpace(pattern, spaceId)),
  );
  if (target === undefined && permissions.defaultAccount === "none") {
    throw new AccountNotRoutedError(
      `space ${spaceId} matches no configured account's spaces and defaultAccount is none: no role is vended for it`,
    );
  }
  return target;
}

/** The AWS account ID that `spaceId`'s roles go to (see {@link targetAccountFor}). */
export function accountFor(config: VendingConfig, spaceId: SpaceId): string {
  return targetAccountFor(config, spaceId)?.id ?? config.awsAccountId;
}

/** The configured target account of that ID; undefined for the service's own account. */
export function targetAccount(config: VendingConfig, accountId: string): TargetAccount | undefined {
  return permissionsOf(config).accounts.find((account) => account.id === accountId);
}

/** The OIDC provider a target account's roles trust. */
export function oidcProviderOf(config: VendingConfig, account: TargetAccount): string {
  const partition = account.vendingRoleArn.split(":")[1] ?? "aws";
  return (
    account.oidcProviderArn ??
    `arn:${partition}:iam::${account.id}:oidc-provider/${config.spaceliftHostname}`
  );
}

/**
 * The vending configuration as seen from one account: in a target account its OIDC provider,
 * its boundary (or the top-level one) and its account ID; in every account only the rules that
 * apply there. Everything else (names, tags, the subject template) is the same everywhere, so
 * the converge and remove engines work unchanged against that account's stores.
 */
export function configForAccount(config: VendingConfig, accountId: string): VendingConfig {
  const permissions = permissionsOf(config);
  const filtered = rulesFor(permissions, accountId);
  if (accountId === config.awsAccountId) {
    return filtered === permissions ? config : { ...config, permissions: filtered };
  }
  const account = targetAccount(config, accountId);
  if (account === undefined) {
    throw new AccountNotRoutedError(`account ${accountId} is not configured under accounts`);
  }
  const boundary =
    account.permissionsBoundaryArn ??
    config.permissionsBoundaryArn ??
    permissions.permissionsBoundaryArn;
  return {
    ...config,
    awsAccountId: account.id,
    oidcProviderArn: oidcProviderOf(config, account),
    permissionsBoundaryArn: boundary,
    permissions: { ...filtered, permissionsBoundaryArn: boundary },
  };
}

const NOTHING: GrantBlock = {
  managedPolicyArns: [],
  inlinePolicies: {},
  read: { managedPolicyArns: [], inlinePolicies: {} },
};

/** The rules that apply in `accountId` (a rule without `accounts` applies everywhere). */
function rulesFor(permissions: Permissions, accountId: string): Permissions {
  const applies = (rule: GrantBlock) =>
    rule.accounts === undefined || rule.accounts.includes(accountId);
  const limited =
    permissions.default.accounts !== undefined ||
    permissions.spaces.some((rule) => rule.accounts !== undefined) ||
    Object.values(permissions.labels).some((rule) => rule.accounts !== undefined);
  if (!limited) return permissions;
  return {
    ...permissions,
    default: applies(permissions.default) ? permissions.default : NOTHING,
    spaces: permissions.spaces.filter(applies),
    labels: Object.fromEntries(
      Object.entries(permissions.labels).filter(([, rule]) => applies(rule)),
    ),
  };
}
