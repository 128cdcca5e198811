/** AccountUsage over IAM GetAccountSummary (`Roles`, `RolesQuota`). */
import { GetAccountSummaryCommand, type IAMClient } from "@aws-sdk/client-iam";
import { AwsCallError } from "../core/errors.ts";
import type { AccountUsage } from "../core/ports.ts";

export class IamAccountUsage implements AccountUsage {
  constructor(private readonly iam: IAMClient) {}

  async roleUsage(): Promise<{ roles: number; quota: number }> {
    let summary: Record<string, number> | undefined;
    try {
      summary = (await this.iam.send(new GetAccountSummaryCommand({}))).SummaryMap;
    } catch (error) {
      throw new AwsCallError("IAM GetAccountSummary failed", { cause: error });
    }
    const roles = summary?.Roles;
    const quota = summary?.RolesQuota;
    if (roles === undefined || quota === undefined) {
      throw new AwsCallError("IAM GetAccountSummary answered without Roles and RolesQuota");
    }
    return { roles, quota };
  }
}
