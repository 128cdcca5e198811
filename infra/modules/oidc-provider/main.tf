# One-time account setup: trust Spacelift's OIDC tokens, and define the permissions boundary
# that caps every role the vending service creates.

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

resource "aws_iam_openid_connect_provider" "spacelift" {
  count = var.create_oidc_provider ? 1 : 0

  url = "https://${var.spacelift_hostname}"
  # Spacelift's tokens carry the account hostname as their audience.
  client_id_list = [var.spacelift_hostname]
  # Empty means "let IAM verify the issuer's certificate chain" (no pinned thumbprints).
  thumbprint_list = length(var.thumbprint_list) > 0 ? var.thumbprint_list : null
  tags            = var.tags
}

data "aws_iam_openid_connect_provider" "spacelift" {
  count = var.create_oidc_provider ? 0 : 1

  url = "https://${var.spacelift_hostname}"

  lifecycle {
    postcondition {
      condition     = contains(self.client_id_list, var.spacelift_hostname)
      error_message = "The existing OIDC provider does not list the Spacelift hostname as a client ID (audience); add it or let this module create the provider."
    }
  }
}

locals {
  oidc_provider_arn = var.create_oidc_provider ? aws_iam_openid_connect_provider.spacelift[0].arn : data.aws_iam_openid_connect_provider.spacelift[0].arn

  iam_arn_prefix = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}"

  # The boundary cannot refer to its own resource (that would be a cycle), so its ARN is
  # assembled from the same path and name the resource uses.
  boundary_arn = "${local.iam_arn_prefix}:policy${var.boundary_policy_path}${var.boundary_policy_name}"

  delegated_roles            = "${local.iam_arn_prefix}:role${var.delegated_role_path}*"
  delegated_policies         = "${local.iam_arn_prefix}:policy${var.delegated_role_path}*"
  delegated_instance_profile = "${local.iam_arn_prefix}:instance-profile${var.delegated_role_path}*"

  # IAM actions that change a role, its trust, its policies or its boundary, or hand it to a
  # service. Outside the delegated path (which includes every vended role) these are denied.
  # (Removing a boundary is denied everywhere, see DenyBoundaryRemoval.)
  role_write_actions = [
    "iam:AttachRolePolicy",
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PassRole",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
  ]

  policy_write_actions = [
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:TagPolicy",
    "iam:UntagPolicy",
  ]

  instance_profile_write_actions = [
    "iam:AddRoleToInstanceProfile",
    "iam:CreateInstanceProfile",
    "iam:DeleteInstanceProfile",
    "iam:RemoveRoleFromInstanceProfile",
    "iam:TagInstanceProfile",
    "iam:UntagInstanceProfile",
  ]
}

data "aws_iam_policy_document" "boundary" {
  # --- What the boundary allows (the ceiling; identity policies still have to grant it) ---

  dynamic "statement" {
    for_each = var.broad_access ? [var.excluded_actions] : []
    content {
      sid         = "AllowAllButExcludedActions"
      effect      = "Allow"
      not_actions = statement.value
      resources   = ["*"]
    }
  }

  dynamic "statement" {
    for_each = length(var.allowed_actions) > 0 ? [var.allowed_actions] : []
    content {
      sid       = "AllowListedActions"
      effect    = "Allow"
      actions   = statement.value
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = var.allow_delegated_roles ? [1] : []
    content {
      sid       = "AllowDelegatedRoleManagement"
      effect    = "Allow"
      actions   = concat(local.role_write_actions, local.policy_write_actions, local.instance_profile_write_actions)
      resources = [local.delegated_roles, local.delegated_policies, local.delegated_instance_profile]
    }
  }

  dynamic "statement" {
    for_each = var.allow_delegated_roles ? [1] : []
    content {
      sid       = "AllowServiceLinkedRoles"
      effect    = "Allow"
      actions   = ["iam:CreateServiceLinkedRole"]
      resources = ["${local.iam_arn_prefix}:role/aws-service-role/*"]
    }
  }

  # --- Explicit denies: no allow anywhere (boundary or identity policy) can override these ---

  statement {
    sid    = "DenyUserAndGroupManagement"
    effect = "Deny"
    actions = [
      "iam:AddUserToGroup",
      "iam:AttachGroupPolicy",
      "iam:AttachUserPolicy",
      "iam:CreateAccessKey",
      "iam:CreateGroup",
      "iam:CreateLoginProfile",
      "iam:CreateServiceSpecificCredential",
      "iam:CreateUser",
      "iam:DeleteGroupPolicy",
      "iam:DeleteUserPermissionsBoundary",
      "iam:DeleteUserPolicy",
      "iam:DetachGroupPolicy",
      "iam:DetachUserPolicy",
      "iam:PutGroupPolicy",
      "iam:PutUserPermissionsBoundary",
      "iam:PutUserPolicy",
      "iam:RemoveUserFromGroup",
      "iam:ResetServiceSpecificCredential",
      "iam:UpdateAccessKey",
      "iam:UpdateGroup",
      "iam:UpdateLoginProfile",
      "iam:UpdateUser",
      "iam:UploadSSHPublicKey",
      "iam:UploadSigningCertificate",
    ]
    resources = ["*"]
  }

  statement {
    sid    = "DenyIdentityProviderAndAccountSettingChanges"
    effect = "Deny"
    actions = [
      "iam:AddClientIDToOpenIDConnectProvider",
      "iam:CreateOpenIDConnectProvider",
      "iam:CreateSAMLProvider",
      "iam:DeleteAccountPasswordPolicy",
      "iam:DeleteOpenIDConnectProvider",
      "iam:DeleteSAMLProvider",
      "iam:RemoveClientIDFromOpenIDConnectProvider",
      "iam:TagOpenIDConnectProvider",
      "iam:UntagOpenIDConnectProvider",
      "iam:UpdateAccountPasswordPolicy",
      "iam:UpdateOpenIDConnectProviderThumbprint",
      "iam:UpdateSAMLProvider",
    ]
    resources = ["*"]
  }

  # Vended roles live outside the delegated path, so this also stops a stack from editing its
  # own role or another stack's role (trust policy, policies, boundary, tags, PassRole).
  statement {
    sid           = "DenyRoleChangesOutsideDelegatedPath"
    effect        = "Deny"
    actions       = local.role_write_actions
    resources     = var.allow_delegated_roles ? null : ["*"]
    not_resources = var.allow_delegated_roles ? [local.delegated_roles] : null
  }

  statement {
    sid           = "DenyPolicyAndInstanceProfileChangesOutsideDelegatedPath"
    effect        = "Deny"
    actions       = concat(local.policy_write_actions, local.instance_profile_write_actions)
    resources     = var.allow_delegated_roles ? null : ["*"]
    not_resources = var.allow_delegated_roles ? [local.delegated_policies, local.delegated_instance_profile] : null
  }

  # A role created (or re-bounded) by a stack must carry this very boundary, so delegation can
  # never produce a role more powerful than the stack's own.
  statement {
    sid       = "DenyRolesWithoutThisBoundary"
    effect    = "Deny"
    actions   = ["iam:CreateRole", "iam:PutRolePermissionsBoundary"]
    resources = ["*"]

    condition {
      test     = "StringNotEquals"
      variable = "iam:PermissionsBoundary"
      values   = [local.boundary_arn]
    }
  }

  statement {
    sid    = "DenyBoundaryRemoval"
    effect = "Deny"
    actions = [
      "iam:DeleteRolePermissionsBoundary",
      "iam:DeleteUserPermissionsBoundary",
    ]
    resources = ["*"]
  }

  statement {
    sid    = "DenyBoundaryPolicyTampering"
    effect = "Deny"
    actions = [
      "iam:CreatePolicyVersion",
      "iam:DeletePolicy",
      "iam:DeletePolicyVersion",
      "iam:SetDefaultPolicyVersion",
      "iam:TagPolicy",
      "iam:UntagPolicy",
    ]
    resources = [local.boundary_arn]
  }

  statement {
    sid       = "DenyLeavingOrganization"
    effect    = "Deny"
    actions   = ["organizations:LeaveOrganization"]
    resources = ["*"]
  }
}

resource "aws_iam_policy" "boundary" {
  name        = var.boundary_policy_name
  path        = var.boundary_policy_path
  description = "Permissions boundary for roles vended to Spacelift stacks and spaces by spacelift-role-vending (${var.spacelift_hostname})."
  policy      = data.aws_iam_policy_document.boundary.minified_json
  tags        = var.tags

  lifecycle {
    precondition {
      # IAM counts managed-policy size without white space; the limit is 6,144 characters.
      condition     = length(data.aws_iam_policy_document.boundary.minified_json) <= 6144
      error_message = "The boundary policy exceeds IAM's 6,144-character limit for managed policies; shorten excluded_actions/allowed_actions."
    }
  }
}
