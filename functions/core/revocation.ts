/**
 * What an orphaned role looks like while it waits for deletion: a trust policy that admits no
 * token, and an inline policy that ends the sessions issued before the revocation.
 *
 * Changing a trust policy only stops new sessions; credentials already issued stay valid for up
 * to the role's session duration. IAM's own "Revoke active sessions" attaches an inline policy
 * denying everything to sessions whose `aws:TokenIssueTime` is older than the revocation
 * (AWS IAM User Guide, "Revoking IAM role temporary security credentials",
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_revoke-sessions.html).
 */
import type { VendingConfig } from "./config.ts";
import type { PolicyDocument } from "./ports.ts";

/**
 * The `sub` a revoked role's trust requires. No Spacelift token carries it:
 * - it holds exactly one `:` and no `|`, whereas every subject template this product accepts
 *   holds `{callerType}`, `{callerId}` and a space placeholder, each separated from its
 *   neighbours by literal text containing `:` or `|`, so every rendered `sub` holds at least
 *   two of them (placeholder values only add characters, never remove the template's); a stack
 *   named `revoked` under `{callerId}:{callerType}:{spaceId}` gives `revoked:stack:<space>`;
 * - it holds a `.`, which Spacelift allows neither in a template (alphanumerics and
 *   `- _ : / | { }`) nor in a stack, space or run ID, run type, scope or caller type; only a
 *   space name could bring one, and `{spacePath}` puts a `/` before every name, while this value
 *   holds no `/`. So even an account template outside this product's rules cannot produce it.
 */
export const REVOKED_SUB = "revoked:spacelift-role-vending.orphan";

/** The inline policy that ends a revoked role's sessions; the name is reserved to us. */
export const REVOKED_SESSIONS_POLICY = "spacelift-role-vending-revoked-sessions";

/**
 * Sessions issued up to this long after the revocation are denied too: IAM applies a trust
 * policy change eventually, so a token may still be exchanged for a moment after the update
 * (AWS IAM User Guide, "Changes that I make are not always immediately visible").
 */
export const REVOCATION_PROPAGATION_MS = 10 * 60_000;

/**
 * The trust of an orphaned role: the Spacelift provider stays the principal (IAM refuses a bare
 * `"Principal": "*"`), with an Allow whose `sub` condition no token can meet ({@link REVOKED_SUB}).
 */
export function revokedTrustPolicy(config: VendingConfig): PolicyDocument {
  const host = config.spaceliftHostname;
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "OrphanedRoleTrustRevoked",
        Effect: "Allow",
        Principal: { Federated: config.oidcProviderArn },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: { [`${host}:aud`]: host, [`${host}:sub`]: REVOKED_SUB },
        },
      },
    ],
  };
}

/**
 * The first revocation document: IAM refuses it (`invalid principal: "STAR":"*"`), so it only
 * ever reached roles in an emulator. Still recognised as revoked, and replaced by the current form.
 */
export const LEGACY_REVOKED_TRUST_POLICY: PolicyDocument = {
  Version: "2012-10-17",
  Statement: [
    {
      Sid: "OrphanedRoleTrustRevoked",
      Effect: "Deny",
      Principal: "*",
      Action: [
        "sts:AssumeRole",
        "sts:AssumeRoleWithWebIdentity",
        "sts:AssumeRoleWithSAML",
        "sts:TagSession",
        "sts:SetSourceIdentity",
      ],
    },
  ],
};

/** Denies everything to the sessions issued before `revokedAt` plus the propagation margin. */
export function revokedSessionsPolicy(revokedAt: Date): PolicyDocument {
  const before = new Date(revokedAt.getTime() + REVOCATION_PROPAGATION_MS).toISOString();
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "RevokeSessionsOfOrphanedRole",
        Effect: "Deny",
        Action: "*",
        Resource: "*",
        Condition: { DateLessThan: { "aws:TokenIssueTime": before } },
      },
    ],
  };
}
