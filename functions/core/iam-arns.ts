/**
 * The forms of the IAM ARNs a configuration may name, and the account an ARN is in. Checked
 * here because moto accepts any string where real IAM refuses a malformed ARN.
 */

/** An AWS account ID. */
export const ACCOUNT_ID = /^\d{12}$/;
/** Managed policy ARNs: AWS-managed (`aws`) or customer-managed (12-digit account), any path. */
export const POLICY_ARN =
  /^arn:aws(?:-cn|-us-gov|-iso|-iso-[a-z])?:iam::(?:\d{12}|aws):policy\/(?:[\x21-\x7e]+\/)?[\w+=,.@-]{1,128}$/;
/** IAM role ARNs (any path). */
export const ROLE_ARN =
  /^arn:aws(?:-cn|-us-gov|-iso|-iso-[a-z])?:iam::\d{12}:role\/(?:[\x21-\x7e]+\/)?[\w+=,.@-]{1,64}$/;
export const OIDC_PROVIDER_ARN =
  /^arn:aws(?:-cn|-us-gov|-iso|-iso-[a-z])?:iam::\d{12}:oidc-provider\/[\x21-\x7e]+$/;

/** The account of an ARN (`arn:partition:service:region:account:…`); undefined for `aws`. */
export function accountOfArn(arn: string): string | undefined {
  const account = arn.split(":")[4];
  return account !== undefined && ACCOUNT_ID.test(account) ? account : undefined;
}
