/**
 * The permissions file's `accounts` section as written: the schema of one target account
 * (its vending role, the spaces routed to it, its OIDC provider, boundary and external ID) and
 * the checks that need the whole section. What routing does with it is account-routing.ts's.
 */
import * as z from "zod/mini";
import { ACCOUNT_ID, accountOfArn, OIDC_PROVIDER_ARN, POLICY_ARN, ROLE_ARN } from "./iam-arns.ts";
import "./zod-locale.ts";

/** STS external IDs: 2-1224 characters of `[\w+=,.@:/-]`. */
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;
/** Space IDs and globs over them. */
const SPACE_MATCH = /^[A-Za-z0-9_*?-]{1,128}$/;

export const AccountId = z.string().check(z.regex(ACCOUNT_ID, "must be a 12-digit AWS account ID"));

/** A space ID or a glob over them: where `accounts`, `spaces` and `labels` rules apply. */
export const SpaceMatch = z
  .string()
  .check(z.regex(SPACE_MATCH, "must be a space ID or a glob like production-*"));

/** One entry of `accounts`; its ARNs' accounts are checked against its `id` (checkAccounts). */
export const TargetAccountEntry = z.strictObject({
  id: AccountId,
  vendingRoleArn: z.string().check(z.regex(ROLE_ARN, "must be an IAM role ARN")),
  spaces: z.array(SpaceMatch).check(z.minLength(1)),
  oidcProviderArn: z.optional(
    z.string().check(z.regex(OIDC_PROVIDER_ARN, "must be an IAM OIDC provider ARN")),
  ),
  permissionsBoundaryArn: z.optional(
    z.string().check(z.regex(POLICY_ARN, "must be an IAM policy ARN")),
  ),
  externalId: z.optional(
    z
      .string()
      .check(z.regex(EXTERNAL_ID, "must be 2-1224 characters of letters, digits and +=,.@:/-")),
  ),
});

/**
 * Checks on `accounts` that need the whole section: IDs unique, every ARN of an entry in that
 * entry's account, and a boundary of its own where the top-level one (`topLevelBoundaryArn`) is
 * in another account (the service's own account is checked in config.ts, which knows it).
 */
export function checkAccounts(
  accounts: readonly z.output<typeof TargetAccountEntry>[],
  topLevelBoundaryArn: string | undefined,
): string[] {
  const problems: string[] = [];
  const seen = new Map<string, number>();
  for (const [index, account] of accounts.entries()) {
    const path = `accounts[${index}]`;
    const first = seen.get(account.id);
    if (first !== undefined) {
      problems.push(
        `${path}.id: account ${account.id} is already configured at accounts[${first}]`,
      );
    } else {
      seen.set(account.id, index);
    }
    const arns = {
      vendingRoleArn: account.vendingRoleArn,
      oidcProviderArn: account.oidcProviderArn,
      permissionsBoundaryArn: account.permissionsBoundaryArn,
    };
    for (const [field, arn] of Object.entries(arns)) {
      const owner = arn === undefined ? undefined : accountOfArn(arn);
      if (owner !== undefined && owner !== account.id) {
        problems.push(
          `${path}.${field}: ${arn} is in account ${owner}, not in account ${account.id}`,
        );
      }
    }
    const inherited = topLevelBoundaryArn;
    const inheritedOwner = inherited === undefined ? undefined : accountOfArn(inherited);
    if (
      account.permissionsBoundaryArn === undefined &&
      inheritedOwner !== undefined &&
      inheritedOwner !== account.id
    ) {
      problems.push(
        `${path}.permissionsBoundaryArn: required: the top-level boundary ${inherited} is in account ${inheritedOwner}, and a role in account ${account.id} needs one there`,
      );
    }
  }
  return problems;
}
