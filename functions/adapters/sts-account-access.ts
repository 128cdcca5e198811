/**
 * AccountAccess over STS: assumes each target account's vending role (with its external ID
 * when set) and builds that account's IAM and SSM clients on the credentials. Credentials are
 * kept per account until 5 minutes before they expire, so a batch of events for one account
 * costs one AssumeRole per credential lifetime.
 */

import type { IAMClient } from "@aws-sdk/client-iam";
import type { SSMClient } from "@aws-sdk/client-ssm";
import {
  AssumeRoleCommand,
  type AssumeRoleCommandOutput,
  type STSClient,
} from "@aws-sdk/client-sts";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";
import { AccountUnreachableError } from "../core/errors.ts";
import type { TargetAccount } from "../core/permissions.ts";
import type {
  AccountAccess,
  AccountStores,
  AccountUsage,
  ParameterStore,
  RoleQuotaGate,
  RoleStore,
} from "../core/ports.ts";
import { IamAccountUsage } from "./iam-account-usage.ts";
import { IamRoleStore } from "./iam-role-store.ts";
import { SsmParameterStore } from "./ssm-parameter-store.ts";

/** Credentials are renewed this long before they expire (the SDK's own refresh window). */
export const CREDENTIALS_REFRESH_MARGIN_MS = 5 * 60_000;

/** STS RoleSessionName: 2-64 characters of `[\w+=,.@-]`. */
const SESSION_NAME_CHARACTERS = /[^\w+=,.@-]/g;

/**
 * The RoleSessionName for a resource key (`stack:api` → `vending@stack.api`), cut to STS's 64
 * characters; what CloudTrail shows as the session that made the calls.
 */
export function roleSessionName(resource: string): string {
  const name = `vending@${resource.replace(":", ".").replace(SESSION_NAME_CHARACTERS, "_")}`;
  return name.slice(0, 64);
}

/** What the adapter builds an account's clients with (tests add middleware here). */
export type AccountClientFactory = (
  accountId: string,
  credentials: AwsCredentialIdentityProvider,
) => { readonly iam: IAMClient; readonly ssm: SSMClient };

interface Session {
  readonly credentials: AwsCredentialIdentity & { expiration: Date };
}

interface AccountState {
  session?: Promise<Session>;
  stores?: AccountStores;
  /** The resource being applied, which names a session assumed for it. */
  resource?: string;
}

export class StsAccountAccess implements AccountAccess {
  private readonly state = new Map<string, AccountState>();
  /** AssumeRole calls made (for tests and the benchmark). */
  assumeRoleCalls = 0;

  constructor(
    private readonly sts: STSClient,
    private readonly accounts: readonly TargetAccount[],
    private readonly clientsFor: AccountClientFactory,
    private readonly now: () => number = Date.now,
    /** Each account's role quota check, over its usage; undefined: not checked. */
    private readonly roleQuotaFor?: (accountId: string, usage: AccountUsage) => RoleQuotaGate,
  ) {}

  async storesFor(accountId: string, resource: string): Promise<AccountStores> {
    const account = this.accounts.find((candidate) => candidate.id === accountId);
    if (account === undefined) {
      throw new AccountUnreachableError(accountId, `account ${accountId} is not configured`);
    }
    const state = this.stateOf(accountId);
    state.resource = resource;
    // Assumed here, before any IAM or SSM call, so that a refusal surfaces as itself.
    await this.session(account, resource);
    state.stores ??= this.buildStores(account);
    return state.stores;
  }

  private stateOf(accountId: string): AccountState {
    let state = this.state.get(accountId);
    if (state === undefined) {
      state = {};
      this.state.set(accountId, state);
    }
    return state;
  }

  /** The account's session, assumed again when it is within the refresh margin of expiring. */
  private async session(account: TargetAccount, resource: string): Promise<Session> {
    const state = this.stateOf(account.id);
    const current = state.session;
    if (current !== undefined) {
      try {
        const session = await current;
        const left = session.credentials.expiration.getTime() - this.now();
        if (left > CREDENTIALS_REFRESH_MARGIN_MS) return session;
      } catch {
        // A failed attempt is not kept: assume again.
      }
    }
    const next = this.assume(account, resource);
    state.session = next;
    next.catch(() => {
      if (state.session === next) delete state.session;
    });
    return next;
  }

  private async assume(account: TargetAccount, resource: string): Promise<Session> {
    this.assumeRoleCalls += 1;
    let answer: AssumeRoleCommandOutput;
    try {
      answer = await this.sts.send(
        new AssumeRoleCommand({
          RoleArn: account.vendingRoleArn,
          RoleSessionName: roleSessionName(resource),
          ...(account.externalId !== undefined && { ExternalId: account.externalId }),
        }),
      );
    } catch (error) {
      // Throttled (after the SDK's own retries), denied, or STS unreachable: the queue retries
      // the event, and after its maximum receives moves it to the dead-letter queue.
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new AccountUnreachableError(
        account.id,
        `cannot assume ${account.vendingRoleArn} for account ${account.id} (${reason}); the event is retried`,
        { cause: error },
      );
    }
    const credentials = answer.Credentials;
    if (
      credentials?.AccessKeyId === undefined ||
      credentials.SecretAccessKey === undefined ||
      credentials.Expiration === undefined
    ) {
      throw new AccountUnreachableError(
        account.id,
        `AssumeRole of ${account.vendingRoleArn} answered without credentials`,
      );
    }
    return {
      credentials: {
        accessKeyId: credentials.AccessKeyId,
        secretAccessKey: credentials.SecretAccessKey,
        ...(credentials.SessionToken !== undefined && { sessionToken: credentials.SessionToken }),
        expiration: credentials.Expiration,
      },
    };
  }

  /**
   * The account's stores, on clients whose credentials come from the session above. A call
   * refused with an expired token (the credentials expired or were revoked early, which the
   * cache cannot see) is made once more on a session assumed afresh.
   */
  private buildStores(account: TargetAccount): AccountStores {
    const state = this.stateOf(account.id);
    const build = () => {
      const clients = this.clientsFor(account.id, async () => {
        const session = await this.session(account, state.resource ?? "account");
        return session.credentials;
      });
      return {
        roles: new IamRoleStore(clients.iam),
        parameters: new SsmParameterStore(clients.ssm),
        usage: new IamAccountUsage(clients.iam),
      };
    };
    let stores = build();
    const renew = () => {
      delete state.session;
      // New clients: the SDK memoises credentials per client until their own expiration.
      stores = build();
    };
    const usage = retryingOnExpiredToken<AccountUsage>(() => stores.usage, renew);
    return {
      roles: retryingOnExpiredToken<RoleStore>(() => stores.roles, renew),
      parameters: retryingOnExpiredToken<ParameterStore>(() => stores.parameters, renew),
      ...(this.roleQuotaFor !== undefined && { roleQuota: this.roleQuotaFor(account.id, usage) }),
      usage,
    };
  }
}

/** Error codes of a request signed with credentials that have expired. */
const EXPIRED_TOKEN = new Set(["ExpiredToken", "ExpiredTokenException", "RequestExpired"]);

/** Whether the error, or one of its causes, is an expired-token refusal. */
export function isExpiredToken(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    if (EXPIRED_TOKEN.has(current.name)) return true;
    current = current.cause;
  }
  return false;
}

/**
 * A store whose every method is retried once, after `renew`, when it fails with an expired
 * token. A Proxy, so that a method added to the port is covered without a line here. A method
 * that returns pages (an async iterable, e.g. describeAllUnder) is retried the same way when
 * its first page fails; once a page was handed out it is not started again.
 */
function retryingOnExpiredToken<T extends object>(current: () => T, renew: () => void): T {
  return new Proxy({} as T, {
    get(_target, property) {
      // Not a thenable: `await` on the store must not take it for a promise.
      if (property === "then") return undefined;
      return (...args: unknown[]) => {
        const call = (): unknown => {
          const store = current() as Record<PropertyKey, (...args: unknown[]) => unknown>;
          const method = store[property];
          if (typeof method !== "function") {
            throw new TypeError(`no method ${String(property)} on the account's store`);
          }
          return method.apply(store, args);
        };
        let first: unknown;
        try {
          first = call();
        } catch (error) {
          return Promise.reject(error);
        }
        if (isAsyncIterable(first)) return pagesRetried(first, call, renew);
        return (async () => {
          try {
            return await first;
          } catch (error) {
            if (!isExpiredToken(error)) throw error;
            renew();
            return call();
          }
        })();
      };
    },
  });
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === "function"
  );
}

async function* pagesRetried(
  first: AsyncIterable<unknown>,
  again: () => unknown,
  renew: () => void,
): AsyncGenerator<unknown> {
  let handedOut = false;
  try {
    for await (const page of first) {
      handedOut = true;
      yield page;
    }
  } catch (error) {
    if (handedOut || !isExpiredToken(error)) throw error;
    renew();
    yield* again() as AsyncIterable<unknown>;
  }
}
