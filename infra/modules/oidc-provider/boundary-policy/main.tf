# The permissions boundary of every vended role, as a plain document (jsonencode of a local)
# so that it can be evaluated without AWS: the test suite applies this module on its own and
# runs an IAM policy evaluator on the output (test/policy/boundary-policy.test.ts).

locals {
  iam_arn_prefix = "arn:${var.partition}:iam::${var.account_id}"

  # The boundary cannot refer to its own resource (that would be a cycle), so its ARN is
  # assembled from the same path and name the resource uses.
  boundary_arn = "${local.iam_arn_prefix}:policy${var.boundary_policy_path}${var.boundary_policy_name}"

  vended_roles               = "${local.iam_arn_prefix}:role${var.vended_role_path}*"
  delegated_roles            = "${local.iam_arn_prefix}:role${var.delegated_role_path}*"
  delegated_policies         = "${local.iam_arn_prefix}:policy${var.delegated_role_path}*"
  delegated_instance_profile = "${local.iam_arn_prefix}:instance-profile${var.delegated_role_path}*"

  # Each stack (and each space) manages only its own corner of the delegated path:
  # <delegated path>stack/<stack id>/ and <delegated path>space/<space id>/, named from the
  # spacelift:stack / spacelift:space tags the provisioner puts on vended roles (session tags, when
  # enabled, are pinned by the trust policy to the same values; roles made under this boundary
  # may not carry spacelift:* tags, see DenySpaceliftTags). A stack role also reaches its space's
  # corner, which any run of that space can reach through the space role anyway.
  owned_paths = [
    "${var.delegated_role_path}stack/$${aws:PrincipalTag/spacelift:stack}/",
    "${var.delegated_role_path}space/$${aws:PrincipalTag/spacelift:space}/",
  ]
  owned_roles     = [for path in local.owned_paths : "${local.iam_arn_prefix}:role${path}*"]
  owned_policies  = [for path in local.owned_paths : "${local.iam_arn_prefix}:policy${path}*"]
  owned_profiles  = [for path in local.owned_paths : "${local.iam_arn_prefix}:instance-profile${path}*"]
  assume_actions  = ["sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity"]
  product_prefix  = "${var.product_name}-"
  partition_arn   = "arn:${var.partition}"
  product_kms_key = "alias/${local.product_prefix}*"
  assumable       = concat(var.allow_delegated_roles ? [local.delegated_roles] : [], var.assumable_role_arns)

  # Writes IAM authorizes with the iam:PermissionsBoundary key (IAM's service authorization
  # reference, https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html):
  # each requires the role to carry (or be given) this very boundary.
  boundary_keyed_role_writes = [
    "iam:*tachRolePolicy", # AttachRolePolicy, DetachRolePolicy
    "iam:CreateRole",
    "iam:DeleteRole*", # DeleteRole, DeleteRolePolicy (and DeleteRolePermissionsBoundary, denied anyway)
    "iam:PutRole*",    # PutRolePolicy, PutRolePermissionsBoundary
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole*", # UpdateRole, UpdateRoleDescription
  ]

  # IAM actions that change a role, its trust, its policies or its boundary, or hand it to a
  # service. Outside the delegated path (which includes every vended role) these are denied.
  # (Removing a boundary is denied everywhere, see DenyBoundaryRemoval.)
  # (Wildcards keep the document under IAM's 6,144 characters: every IAM action these match
  # writes; iam:Tag*/iam:Untag* also cover users, providers and certificates, denied anyway.)
  role_write_actions = [
    "iam:*tachRolePolicy", # AttachRolePolicy, DetachRolePolicy
    "iam:CreateRole",
    "iam:DeleteRole*", # DeleteRole, DeleteRolePolicy, DeleteRolePermissionsBoundary
    "iam:PassRole",
    "iam:PutRole*", # PutRolePolicy, PutRolePermissionsBoundary
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole*", # UpdateRole, UpdateRoleDescription
  ]

  policy_write_actions = [
    "iam:CreatePolicy*", # CreatePolicy, CreatePolicyVersion
    "iam:DeletePolicy*", # DeletePolicy, DeletePolicyVersion
    "iam:SetDefaultPolicyVersion",
  ]

  instance_profile_write_actions = [
    "iam:AddRoleToInstanceProfile",
    "iam:CreateInstanceProfile",
    "iam:DeleteInstanceProfile",
    "iam:RemoveRoleFromInstanceProfile",
  ]

  tag_actions = ["iam:Tag*", "iam:Untag*"]

  # Every statement with the condition it is included on: a `for` over a tuple keeps each
  # statement's own shape (a conditional would have to unify them).
  statements = [
    # --- What the boundary allows (the ceiling; identity policies still have to grant it) ---
    {
      enabled = var.broad_access
      statement = {
        Sid    = "AllowAllButExcluded"
        Effect = "Allow"
        # Assuming roles is granted only on the stack's own delegated roles (below).
        NotAction = distinct(concat(var.excluded_actions, local.assume_actions))
        Resource  = "*"
      }
    },
    {
      enabled = length(var.allowed_actions) > 0
      statement = {
        Sid      = "AllowListedActions"
        Effect   = "Allow"
        Action   = var.allowed_actions
        Resource = "*"
      }
    },
    {
      enabled = var.allow_delegated_roles
      statement = {
        # Only roles, policies and instance profiles under the stack's own corner; the denies
        # below still apply (this boundary on every role write, no boundary removal, no
        # spacelift:* tags).
        Sid      = "AllowOwnDelegatedRoles"
        Effect   = "Allow"
        Action   = "iam:*"
        Resource = concat(local.owned_roles, local.owned_policies, local.owned_profiles)
      }
    },
    {
      enabled = var.allow_delegated_roles || length(var.assumable_role_arns) > 0
      statement = {
        Sid      = "AllowAssumingOwnRoles"
        Effect   = "Allow"
        Action   = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]
        Resource = concat(var.allow_delegated_roles ? local.owned_roles : [], var.assumable_role_arns)
      }
    },
    {
      enabled = var.allow_delegated_roles
      statement = {
        Sid      = "AllowServiceLinkedRoles"
        Effect   = "Allow"
        Action   = "iam:CreateServiceLinkedRole"
        Resource = "${local.iam_arn_prefix}:role/aws-service-role/*"
      }
    },

    # --- Explicit denies: no allow anywhere (boundary or identity policy) can override these ---
    {
      enabled = true
      statement = {
        Sid    = "DenyUsersAndGroups"
        Effect = "Deny"
        # Every write on users, groups and their credentials (and the reads of a login profile).
        Action = [
          "iam:AddUserToGroup",
          "iam:RemoveUserFromGroup",
          "iam:CreateUser",
          "iam:UpdateUser",
          "iam:CreateGroup",
          "iam:UpdateGroup",
          "iam:*UserPolicy",
          "iam:*GroupPolicy",
          "iam:*UserPermissionsBoundary",
          "iam:*AccessKey",
          "iam:*LoginProfile",
          "iam:*ServiceSpecificCredential",
          "iam:Upload*",
        ]
        Resource = "*"
      }
    },
    {
      enabled = true
      statement = {
        Sid    = "DenyIdpAndAccountSettings"
        Effect = "Deny"
        # Every call on one OIDC or SAML provider except reading it, and the password policy.
        Action = [
          "iam:*ClientID*", # AddClientIDToOpenIDConnectProvider, RemoveClientIDFromOpenIDConnectProvider
          "iam:CreateOpenIDConnectProvider",
          "iam:DeleteOpenIDConnectProvider",
          "iam:UpdateOpenIDConnectProviderThumbprint",
          "iam:*SAMLProvider",
          # Tagging a provider: iam:Tag*/iam:Untag* in DenyIamWritesOutsideDelegation/DenyIamWrites.
          "iam:*AccountPasswordPolicy",
        ]
        Resource = "*"
      }
    },
    # Vended roles live outside the delegated path, so this also stops a stack from editing its
    # own role or another stack's role (trust policy, policies, boundary, tags, PassRole).
    {
      enabled = var.allow_delegated_roles
      statement = {
        Sid         = "DenyIamWritesOutsideDelegation"
        Effect      = "Deny"
        Action      = concat(local.role_write_actions, local.policy_write_actions, local.instance_profile_write_actions, local.tag_actions)
        NotResource = [local.delegated_roles, local.delegated_policies, local.delegated_instance_profile]
      }
    },
    {
      enabled = !var.allow_delegated_roles
      statement = {
        Sid      = "DenyIamWrites"
        Effect   = "Deny"
        Action   = concat(local.role_write_actions, local.policy_write_actions, local.instance_profile_write_actions, local.tag_actions)
        Resource = "*"
      }
    },
    # Every role a stack creates or changes must carry this very boundary, so delegation can
    # never produce a role more powerful than the stack's own, nor change one that is.
    {
      enabled = true
      statement = {
        Sid       = "DenyUnboundedRoleWrites"
        Effect    = "Deny"
        Action    = local.boundary_keyed_role_writes
        Resource  = "*"
        Condition = { StringNotEquals = { "iam:PermissionsBoundary" = local.boundary_arn } }
      }
    },
    # The spacelift:* tags name the owner of a delegated corner: only the provisioner sets them.
    {
      enabled = true
      statement = {
        Sid       = "DenySpaceliftTags"
        Effect    = "Deny"
        Action    = ["iam:CreateRole", "iam:TagRole", "iam:UntagRole", "sts:TagSession"]
        Resource  = "*"
        Condition = { "ForAnyValue:StringLike" = { "aws:TagKeys" = ["spacelift:*"] } }
      }
    },
    # ... and only a vended role's own tags count. Whoever a workload role trusts can give its
    # session any tags, overriding the role's (a principal of another account passing session
    # tags, a Cognito identity pool mapping claims to principal tags; STS API reference,
    # AssumeRole: "session tags override a role tag with the same key", keys compared without
    # case), so a session outside the vended path that carries a spacelift:stack or
    # spacelift:space tag may do nothing at all: it would otherwise own another stack's corner.
    {
      enabled = true
      statement = {
        Sid      = "DenyForeignStackTag"
        Effect   = "Deny"
        Action   = "*"
        Resource = "*"
        Condition = {
          Null       = { "aws:PrincipalTag/spacelift:stack" = "false" }
          ArnNotLike = { "aws:PrincipalArn" = local.vended_roles }
        }
      }
    },
    {
      enabled = true
      statement = {
        Sid      = "DenyForeignSpaceTag"
        Effect   = "Deny"
        Action   = "*"
        Resource = "*"
        Condition = {
          Null       = { "aws:PrincipalTag/spacelift:space" = "false" }
          ArnNotLike = { "aws:PrincipalArn" = local.vended_roles }
        }
      }
    },
    # Vended roles are assumed by Spacelift with AssumeRoleWithWebIdentity, which no caller's
    # boundary governs; a vended role itself assumes nothing outside the delegated path.
    {
      enabled = length(local.assumable) > 0
      statement = {
        Sid         = "DenyAssumingOtherRoles"
        Effect      = "Deny"
        Action      = local.assume_actions
        NotResource = local.assumable
      }
    },
    {
      enabled = length(local.assumable) == 0
      statement = {
        Sid      = "DenyAssumingRoles"
        Effect   = "Deny"
        Action   = local.assume_actions
        Resource = "*"
      }
    },
    # --- The product itself: its functions, queues, table, parameters, key, logs and stack ---
    {
      enabled = true
      statement = {
        Sid    = "DenyProductResources"
        Effect = "Deny"
        Action = ["lambda:*", "sqs:*", "dynamodb:*", "cloudformation:*", "events:*", "ssm:*", "kms:*", "cloudwatch:*", "sns:*", "s3:*"]
        Resource = [
          "${local.partition_arn}:lambda:*:*:function:${local.product_prefix}*",
          "${local.partition_arn}:sqs:*:*:${local.product_prefix}*",
          "${local.partition_arn}:dynamodb:*:*:table/${local.product_prefix}*",
          "${local.partition_arn}:cloudformation:*:*:stack/${local.product_prefix}*",
          "${local.partition_arn}:events:*:*:rule/${local.product_prefix}*",
          "${local.partition_arn}:cloudwatch:*:*:alarm:${local.product_prefix}*",
          "${local.partition_arn}:sns:*:*:${local.product_prefix}*",
          # The deployment bucket (<stack>-serverlessdeploymentbucket-…) and its code zips.
          "${local.partition_arn}:s3:::${local.product_prefix}*",
          "${local.partition_arn}:ssm:*:*:parameter${trimsuffix(var.product_parameter_path, "/")}",
          "${local.partition_arn}:ssm:*:*:parameter${var.product_parameter_path}*",
          "${local.partition_arn}:kms:*:*:${local.product_kms_key}",
        ]
      }
    },
    # The HTTP API has a generated ID; it carries the stack's `service` tag (serverless.yml).
    {
      enabled = true
      statement = {
        Sid       = "DenyProductApi"
        Effect    = "Deny"
        Action    = "apigateway:*"
        Resource  = "*"
        Condition = { StringEquals = { "aws:ResourceTag/service" = var.product_name } }
      }
    },
    {
      enabled = true
      statement = {
        Sid       = "DenyProductKey"
        Effect    = "Deny"
        Action    = "kms:*"
        Resource  = "*"
        Condition = { "ForAnyValue:StringLike" = { "kms:ResourceAliases" = [local.product_kms_key] } }
      }
    },
    {
      enabled = true
      statement = {
        Sid       = "DenyProductMappings"
        Effect    = "Deny"
        Action    = "lambda:*EventSourceMapping"
        Resource  = "*"
        Condition = { ArnLike = { "lambda:FunctionArn" = ["${local.partition_arn}:lambda:*:*:function:${local.product_prefix}*"] } }
      }
    },
    {
      enabled = true
      statement = {
        Sid      = "DenyProductLogs"
        Effect   = "Deny"
        Action   = ["logs:Delete*", "logs:Put*", "logs:Create*", "logs:Associate*", "logs:Disassociate*", "logs:Tag*", "logs:Untag*"]
        Resource = "${local.partition_arn}:logs:*:*:log-group:/aws/*/${local.product_prefix}*" # /aws/lambda/…, /aws/http-api/…
      }
    },
    # The ARNs consumers read (`<prefix>/<account>/stacks/<id>/role-arn`): a rewritten one would
    # send another stack's runs to a role of the writer's choosing.
    {
      enabled = true
      statement = {
        Sid    = "DenyArnParameterWrites"
        Effect = "Deny"
        # Put/Delete, tags, labels.
        Action = ["ssm:Put*", "ssm:Delete*", "ssm:*Tags*", "ssm:*Label*"]
        Resource = [
          "${local.partition_arn}:ssm:*:*:parameter${var.vended_parameter_prefix}",
          "${local.partition_arn}:ssm:*:*:parameter${var.vended_parameter_prefix}/*",
        ]
      }
    },
    {
      enabled = true
      statement = {
        Sid      = "DenyBoundaryRemoval"
        Effect   = "Deny"
        Action   = ["iam:DeleteRolePermissionsBoundary", "iam:DeleteUserPermissionsBoundary"]
        Resource = "*"
      }
    },
    {
      enabled = true
      statement = {
        Sid    = "DenyBoundaryTampering"
        Effect = "Deny"
        Action = [
          "iam:CreatePolicyVersion",
          "iam:DeletePolicy*",
          "iam:SetDefaultPolicyVersion",
          # (Its tags: iam:Tag*/iam:Untag* outside the delegated path, above.)
        ]
        Resource = local.boundary_arn
      }
    },
    {
      enabled = true
      statement = {
        Sid      = "DenyLeavingOrg"
        Effect   = "Deny"
        Action   = "organizations:LeaveOrganization"
        Resource = "*"
      }
    },
  ]

  document = {
    Version   = "2012-10-17"
    Statement = [for candidate in local.statements : candidate.statement if candidate.enabled]
  }
}
