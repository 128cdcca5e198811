/**
 * `npm start` with target accounts: reads the permissions file with the product's own loader,
 * sets up in the emulator what each configured account carries (ensureLocalTargetAccounts), and
 * says what it set up and how to see a role land there.
 */
import {
  accountFor,
  configForAccount,
  oidcProviderOf,
} from "../../functions/core/account-routing.ts";
import { loadVendingConfig } from "../../functions/core/config.ts";
import type { Env } from "../../functions/core/env.ts";
import { isSpaceId } from "../../functions/core/identifiers.ts";
import { permissionsOf } from "../../functions/core/role-spec.ts";
import { ensureLocalTargetAccounts, type PreparedTargetAccount } from "./local-aws.ts";

/** A target account as the local run set it up, with a space that routes to it, if one is found. */
export interface LocalTargetAccountRun extends PreparedTargetAccount {
  readonly spaces: readonly string[];
  /** A space ID routed to this account (from its first `spaces` pattern), for the printed example. */
  readonly exampleSpace?: string;
}

/** Stands in for a glob's wildcards when the example space is made from a pattern. */
const EXAMPLE_SPACE_SUFFIX = "01HND497T9JKR76MR3KA2CDJHP";

/**
 * The configured target accounts, ready in the emulator at `endpoint`: each one's OIDC provider
 * and boundary as the provisioner will use them (the product's own resolution of the defaults),
 * and its vending role. Nothing when the permissions file has no `accounts`. A bad file throws
 * the loader's ConfigurationError before any call.
 */
export async function prepareLocalTargetAccounts(
  env: Env,
  options: { readonly endpoint: string; readonly region?: string },
): Promise<LocalTargetAccountRun[]> {
  // The provisioner loads the same file again when it starts, and warns there.
  const config = await loadVendingConfig(env, undefined, () => undefined);
  const accounts = permissionsOf(config).accounts;
  if (accounts.length === 0) return [];
  const prepared = await ensureLocalTargetAccounts(
    accounts.map((account) => {
      const boundary = configForAccount(config, account.id).permissionsBoundaryArn;
      return {
        id: account.id,
        vendingRoleArn: account.vendingRoleArn,
        oidcProviderArn: oidcProviderOf(config, account),
        ...(boundary !== undefined && { permissionsBoundaryArn: boundary }),
        ...(account.externalId !== undefined && { externalId: account.externalId }),
      };
    }),
    {
      endpoint: options.endpoint,
      ...(options.region !== undefined && { region: options.region }),
      spaceliftHostname: config.spaceliftHostname,
    },
  );
  return prepared.map((entry, index) => {
    const spaces = accounts[index]?.spaces ?? [];
    const candidate = spaces[0]?.replaceAll("*", EXAMPLE_SPACE_SUFFIX).replaceAll("?", "0");
    // An earlier account's glob may take the candidate: then no example is offered.
    const routed =
      candidate !== undefined && isSpaceId(candidate) && accountFor(config, candidate) === entry.id;
    return { ...entry, spaces, ...(routed && { exampleSpace: candidate }) };
  });
}

/** The lines `npm start` prints about the target accounts (none without any). */
export function describeTargetAccounts(
  accounts: readonly LocalTargetAccountRun[],
  run: {
    readonly receiverUrl: string;
    readonly secret: string;
    readonly endpoint: string;
    readonly spaceliftAccount: string;
  },
): string[] {
  if (accounts.length === 0) return [];
  const lines = [
    `  Target accounts: ${accounts.length} (set up in the emulator; the provisioner assumes each vending role)`,
  ];
  for (const account of accounts) {
    lines.push(
      `    Account ${account.id} (spaces ${account.spaces.join(", ")})`,
      `      Vending role:  ${account.vendingRoleArn}${account.externalId === undefined ? "" : " (with external ID)"}`,
      `      OIDC provider: ${account.oidcProviderArn}`,
      `      Boundary:      ${account.permissionsBoundaryArn}`,
    );
  }
  const example = accounts.find((account) => account.exampleSpace !== undefined);
  if (example?.exampleSpace !== undefined) {
    lines.push(
      "",
      `A stack in a space routed to ${example.id} gets its role there; --wait prints its ARN once published:`,
      `  RECEIVER_URL=${run.receiverUrl} SPACELIFT_WEBHOOK_SECRET=${run.secret} AWS_ENDPOINT_URL=${run.endpoint} npm run send -- stack.create --stack orders-api --space ${example.exampleSpace} --wait`,
    );
  }
  return lines;
}
