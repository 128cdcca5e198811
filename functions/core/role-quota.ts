/**
 * IAM's role quota per account (1,000 by default, up to 5,000): read with GetAccountSummary,
 * kept for a minute, with this process's own creates counted on top, so that a create that
 * would exceed it is refused with a clear error before AWS refuses it (LimitExceeded), and an
 * account nearing it is reported from 80%.
 */
import { AccountRoleQuotaError } from "./errors.ts";
import type { AccountUsage, RoleQuotaGate } from "./ports.ts";

/** From this share of the quota, the usage is reported as near it (a warning). */
export const ROLE_QUOTA_WARNING_RATIO = 0.8;
/** How long a read of the account's usage is trusted. */
export const ROLE_QUOTA_READ_TTL_MS = 60_000;

export interface RoleQuotaObservation {
  readonly account: string;
  readonly roles: number;
  readonly quota: number;
  /** At or above {@link ROLE_QUOTA_WARNING_RATIO} of the quota. */
  readonly nearQuota: boolean;
}

export class AccountRoleQuota implements RoleQuotaGate {
  private read: { at: number; roles: number; quota: number } | undefined;
  private createdSinceRead = 0;

  constructor(
    private readonly account: string,
    private readonly usage: AccountUsage,
    private readonly options: {
      readonly now: () => number;
      /** Each fresh read of the usage (for the metric and the warning). */
      readonly observe: (observation: RoleQuotaObservation) => void;
      /** The usage could not be read (e.g. no iam:GetAccountSummary): creates go ahead. */
      readonly unreadable?: (account: string, error: unknown) => void;
    },
  ) {}

  async admitCreate(roleName: string): Promise<void> {
    const now = this.options.now();
    if (this.read === undefined || now - this.read.at >= ROLE_QUOTA_READ_TTL_MS) {
      let usage: { roles: number; quota: number };
      try {
        usage = await this.usage.roleUsage();
      } catch (error) {
        // A guard, not a gate: IAM still refuses a role over the quota (LimitExceeded). Not
        // read again for a minute, so a missing permission costs one call a minute.
        this.read = { at: now, roles: 0, quota: Number.POSITIVE_INFINITY };
        this.createdSinceRead = 0;
        this.options.unreadable?.(this.account, error);
        return;
      }
      const { roles, quota } = usage;
      this.read = { at: now, roles, quota };
      this.createdSinceRead = 0;
      this.options.observe({
        account: this.account,
        roles,
        quota,
        nearQuota: roles >= quota * ROLE_QUOTA_WARNING_RATIO,
      });
    }
    const roles = this.read.roles + this.createdSinceRead;
    if (roles + 1 > this.read.quota) {
      throw new AccountRoleQuotaError(
        `AWS account ${this.account} holds ${roles} roles, its IAM quota (RolesQuota) is ${this.read.quota}: role ${roleName} is not created; raise the quota (up to 5,000) or remove roles`,
      );
    }
  }

  recordCreated(): void {
    this.createdSinceRead += 1;
  }
}
