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
}

# The document is built by a provider-free submodule, so that the test suite can apply it alone
# and evaluate exactly this JSON with an IAM policy evaluator. Every argument is a plain
# reference to a variable of this module (or the account and partition), which the test relies on.
module "boundary_document" {
  source = "./boundary-policy"

  partition               = data.aws_partition.current.partition
  account_id              = data.aws_caller_identity.current.account_id
  boundary_policy_path    = var.boundary_policy_path
  boundary_policy_name    = var.boundary_policy_name
  vended_role_path        = var.vended_role_path
  allow_delegated_roles   = var.allow_delegated_roles
  delegated_role_path     = var.delegated_role_path
  excluded_actions        = var.excluded_actions
  broad_access            = var.broad_access
  allowed_actions         = var.allowed_actions
  assumable_role_arns     = var.assumable_role_arns
  product_name            = var.product_name
  product_parameter_path  = var.product_parameter_path
  vended_parameter_prefix = var.vended_parameter_prefix
}

resource "aws_iam_policy" "boundary" {
  name        = var.boundary_policy_name
  path        = var.boundary_policy_path
  description = "Permissions boundary for roles vended to Spacelift stacks and spaces by spacelift-role-vending (${var.spacelift_hostname})."
  policy      = module.boundary_document.json
  tags        = var.tags

  lifecycle {
    precondition {
      # IAM counts managed-policy size without white space; the limit is 6,144 characters.
      condition     = length(module.boundary_document.json) <= 6144
      error_message = "The boundary policy exceeds IAM's 6,144-character limit for managed policies; shorten excluded_actions/allowed_actions."
    }
  }
}
