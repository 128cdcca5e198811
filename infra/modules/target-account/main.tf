# What one target account carries so that the vending service can create stack roles in it:
# Spacelift's OIDC provider and the permissions boundary (modules/oidc-provider, the same
# documents as the service's own account), and the vending role the service assumes.

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

module "oidc_provider" {
  source = "../oidc-provider"

  spacelift_hostname      = var.spacelift_hostname
  create_oidc_provider    = var.create_oidc_provider
  boundary_policy_name    = var.boundary_policy_name
  boundary_policy_path    = var.boundary_policy_path
  vended_role_path        = var.vended_role_path
  allow_delegated_roles   = var.allow_delegated_roles
  delegated_role_path     = var.delegated_role_path
  product_name            = var.product_name
  vended_parameter_prefix = var.parameter_prefix
  tags                    = var.tags
}

# The documents are built by a provider-free submodule, so that the test suite can apply it alone
# and evaluate exactly this JSON with an IAM policy evaluator. Every argument is a plain
# reference to a variable of this module, the account, partition or region, or the boundary.
module "vending_role_document" {
  source = "./vending-role-policy"

  partition                = data.aws_partition.current.partition
  account_id               = data.aws_caller_identity.current.account_id
  region                   = data.aws_region.current.id
  service_role_arns        = var.service_role_arns
  external_id              = var.external_id
  organization_id          = var.organization_id
  vended_role_path         = var.vended_role_path
  role_name_prefix         = var.role_name_prefix
  vending_role_path        = var.vending_role_path
  permissions_boundary_arn = module.oidc_provider.permissions_boundary_arn
  allowed_policy_arns      = var.allowed_policy_arns
  parameter_prefix         = var.parameter_prefix
}

resource "aws_iam_role" "vending" {
  name               = var.vending_role_name
  path               = var.vending_role_path
  description        = "Assumed by spacelift-role-vending's provisioner and reconciler to manage the stack roles of this account."
  assume_role_policy = module.vending_role_document.trust_json
  # The service caches the credentials per account until shortly before they expire.
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "vending" {
  name   = "vending"
  role   = aws_iam_role.vending.id
  policy = module.vending_role_document.policy_json
}
