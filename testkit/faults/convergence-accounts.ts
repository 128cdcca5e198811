/**
 * The convergence scenario's second AWS account (`accounts: 2`): moto keeps separate state per
 * account, and AssumeRole into a role ARN of account 222222222222 returns credentials that act
 * there. The account carries what infra/modules/target-account would (its own OIDC provider,
 * boundary and vending role, set up by the local run's own ensureLocalTargetAccounts); the
 * permissions file routes every odd-numbered space to it; the provisioner reaches it through
 * the real StsAccountAccess adapter, one per simulated Lambda container, over the product's
 * account clients with the scenario's fault injector and call counter attached.
 */
import { accountClients } from "../../functions/adapters/aws-clients.ts";
import { StsAccountAccess } from "../../functions/adapters/sts-account-access.ts";
import { stsClient } from "../../functions/adapters/sts-client.ts";
import { loadVendingConfig, type VendingConfig } from "../../functions/core/config.ts";
import { type AccountClients, clientsInAccount } from "../aws/clients.ts";
import { ensureLocalTargetAccounts } from "../aws/local-aws.ts";
import type { FaultInjector, LabelledCallCounter } from "./fault-injection.ts";

export const TARGET_ACCOUNT_ID = "222222222222";
const VENDING_ROLE_ARN = `arn:aws:iam::${TARGET_ACCOUNT_ID}:role/spacelift-role-vending/vending`;
/** The account's own boundary, created in moto by prepareTargetAccount. */
export const TARGET_BOUNDARY_ARN = `arn:aws:iam::${TARGET_ACCOUNT_ID}:policy/spacelift-role-vending/spacelift-role-vending-boundary`;
const EXTERNAL_ID = "acme-soak";

/** Space index → routed to the second account: every odd one (the root space never is). */
export function isRoutedSpaceIndex(index: number): boolean {
  return index % 2 === 1;
}

/**
 * The scenario's configuration with `accounts`: the spaces of odd index (`team1-*`, …) go to
 * the second account, with its own boundary and an external ID; the rest stays in the service's.
 */
export function twoAccountConfig(options: {
  readonly hostname: string;
  readonly serviceAccountId: string;
  readonly spaces: number;
  readonly policyArns: readonly string[];
  /** The service's account's boundary (PERMISSIONS_BOUNDARY_ARN). */
  readonly boundaryArn: string;
}): Promise<VendingConfig> {
  const routed = Array.from({ length: options.spaces }, (_, index) => index)
    .filter(isRoutedSpaceIndex)
    .map((index) => `team${index}-*`);
  return loadVendingConfig({
    SPACELIFT_HOSTNAME: options.hostname,
    PERMISSIONS_BOUNDARY_ARN: options.boundaryArn,
    AWS_ACCOUNT_ID: options.serviceAccountId,
    PERMISSIONS_CONFIG: JSON.stringify({
      default: { managedPolicyArns: options.policyArns },
      accounts: [
        {
          id: TARGET_ACCOUNT_ID,
          vendingRoleArn: VENDING_ROLE_ARN,
          // No space matches an empty list: a history with one space routes none.
          spaces: routed.length > 0 ? routed : ["never-routed-*"],
          permissionsBoundaryArn: TARGET_BOUNDARY_ARN,
          externalId: EXTERNAL_ID,
        },
      ],
    }),
  });
}

/**
 * Sets up the second account in moto (after each reset: moto forgets it), its boundary policy
 * included, and returns clean
 * clients that inspect it (no faults, not counted).
 */
export async function prepareTargetAccount(
  endpoint: string,
  hostname: string,
): Promise<AccountClients> {
  await ensureLocalTargetAccounts(
    [
      {
        id: TARGET_ACCOUNT_ID,
        vendingRoleArn: VENDING_ROLE_ARN,
        permissionsBoundaryArn: TARGET_BOUNDARY_ARN,
        externalId: EXTERNAL_ID,
      },
    ],
    { endpoint, spaceliftHostname: hostname },
  );
  return clientsInAccount(endpoint, TARGET_ACCOUNT_ID);
}

/**
 * The provisioner's access to the target accounts in one (simulated) Lambda container: the
 * real adapter over the product's STS client, building each account's clients with the
 * product's own factory and instrumenting them as the service account's clients are.
 * `clients` collects them so that the caller can close them.
 */
export function containerAccountAccess(
  config: VendingConfig,
  instruments: { readonly faults: FaultInjector; readonly counter: LabelledCallCounter },
  clients: { destroy(): void }[],
): StsAccountAccess {
  return new StsAccountAccess(stsClient(), config.permissions?.accounts ?? [], (id, creds) => {
    const built = accountClients(id, creds);
    instruments.counter.attach(built.iam, "target-iam");
    instruments.counter.attach(built.ssm, "target-ssm");
    instruments.faults.attach(built.iam, "iam");
    instruments.faults.attach(built.ssm, "ssm");
    clients.push(built.iam, built.ssm);
    return built;
  });
}
