# The vending role's two documents: whom it trusts (the service's provisioner and reconciler, by
# ARN) and what it may do (the provisioner's least-privilege IAM and SSM rights of serverless.yml's
# `vending` policy, in this account). Keep the statements in step with serverless.yml's
# ProvisionerRole: test/policy/vending-role-policy.test.ts checks both with the same calls.

locals {
  vended_roles   = "arn:${var.partition}:iam::${var.account_id}:role${var.vended_role_path}${var.role_name_prefix}*"
  roles_on_path  = "arn:${var.partition}:iam::${var.account_id}:role${var.vended_role_path}*"
  vending_roles  = "arn:${var.partition}:iam::${var.account_id}:role${var.vending_role_path}*"
  published_arns = "arn:${var.partition}:ssm:${var.region}:${var.account_id}:parameter${var.parameter_prefix}/*"
  with_boundary  = { StringEquals = { "iam:PermissionsBoundary" = var.permissions_boundary_arn } }
  trust_condition = merge(
    var.external_id == null ? {} : { "sts:ExternalId" = var.external_id },
    var.organization_id == null ? {} : { "aws:PrincipalOrgID" = var.organization_id },
  )

  trust = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "ServiceRolesOnly"
        Effect = "Allow"
        # By ARN, not the account root: no other principal of the service's account is trusted,
        # whatever its identity policy allows.
        Principal = { AWS = var.service_role_arns }
        Action    = "sts:AssumeRole"
        Condition = { StringEquals = local.trust_condition }
      },
    ]
  }

  statements = [
    # Reads cover the whole path: the reconciler describes every role it lists there to tell
    # ours (by tag) from anyone else's.
    {
      Sid      = "ReadRolesUnderPath"
      Effect   = "Allow"
      Action   = ["iam:GetRole", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:GetRolePolicy"]
      Resource = local.roles_on_path
    },
    # ListRoles and GetAccountSummary support no resource-level permissions (IAM evaluates them
    # against "*"); both are read-only. The service passes the role path as PathPrefix.
    {
      Sid      = "ListRolesAndQuota"
      Effect   = "Allow"
      Action   = ["iam:ListRoles", "iam:GetAccountSummary"]
      Resource = "*"
    },
    # Every write IAM authorizes with the iam:PermissionsBoundary key requires the role to carry
    # this account's boundary (for CreateRole and PutRolePermissionsBoundary: the one being set);
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html
    {
      Sid    = "ManageVendedRolesWithBoundary"
      Effect = "Allow"
      Action = [
        "iam:CreateRole",
        "iam:PutRolePermissionsBoundary",
        "iam:DeleteRole",
        "iam:UpdateRole",
        "iam:UpdateAssumeRolePolicy",
        "iam:PutRolePolicy",
        "iam:DeleteRolePolicy",
        # Not restricted by iam:PolicyARN: detaching only ever removes access.
        "iam:DetachRolePolicy",
      ]
      Resource  = local.vended_roles
      Condition = local.with_boundary
    },
    # TagRole and UntagRole support no iam:PermissionsBoundary key.
    {
      Sid      = "TagVendedRoles"
      Effect   = "Allow"
      Action   = ["iam:TagRole", "iam:UntagRole"]
      Resource = local.vended_roles
    },
    {
      Sid      = "DenyBoundaryRemoval"
      Effect   = "Deny"
      Action   = "iam:DeleteRolePermissionsBoundary"
      Resource = local.roles_on_path
    },
    # The vending role never assumes a role: it could otherwise make a vended role trust it by
    # ARN (a same-account trust naming a principal needs no identity-policy allow) and assume it.
    {
      Sid      = "DenyAssumingRoles"
      Effect   = "Deny"
      Action   = ["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML", "sts:TagSession", "sts:SetSourceIdentity"]
      Resource = "*"
    },
    # The vending role itself (and anything beside it): never writable by its own sessions.
    {
      Sid    = "DenyChangesToVendingRoles"
      Effect = "Deny"
      Action = [
        "iam:AttachRolePolicy",
        "iam:CreateRole",
        "iam:DeleteRole",
        "iam:DeleteRolePermissionsBoundary",
        "iam:DeleteRolePolicy",
        "iam:DetachRolePolicy",
        "iam:PutRolePermissionsBoundary",
        "iam:PutRolePolicy",
        "iam:TagRole",
        "iam:UntagRole",
        "iam:UpdateAssumeRolePolicy",
        "iam:UpdateRole",
      ]
      Resource = local.vending_roles
    },
    {
      Sid    = "PublishRoleArns"
      Effect = "Allow"
      Action = [
        "ssm:PutParameter",
        "ssm:GetParameter",
        "ssm:DeleteParameter",
        "ssm:AddTagsToResource",
        "ssm:RemoveTagsFromResource",
        "ssm:ListTagsForResource",
        # Authorized against the path listed, <prefix>/<account>, inside `<prefix>/*`.
        "ssm:GetParametersByPath",
      ]
      Resource = local.published_arns
    },
  ]

  # Only with an allow-list: no statement at all (rather than an empty condition) without one.
  attach_statements = length(var.allowed_policy_arns) == 0 ? [] : [
    {
      Sid      = "AttachAllowedPolicies"
      Effect   = "Allow"
      Action   = "iam:AttachRolePolicy"
      Resource = local.vended_roles
      Condition = {
        ArnEquals    = { "iam:PolicyARN" = var.allowed_policy_arns }
        StringEquals = { "iam:PermissionsBoundary" = var.permissions_boundary_arn }
      }
    },
  ]

  permissions = {
    Version   = "2012-10-17"
    Statement = concat(local.statements, local.attach_statements)
  }
}
