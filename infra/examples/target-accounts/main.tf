# Applies modules/target-account to two accounts and prints the `accounts` section of the
# permissions file, ready to paste (or to write to the file with local_file).

locals {
  common = {
    spacelift_hostname  = var.spacelift_hostname
    service_role_arns   = [var.provisioner_role_arn, var.reconciler_role_arn]
    organization_id     = var.organization_id
    allowed_policy_arns = var.allowed_policy_arns
  }
}

module "prod" {
  source    = "../../modules/target-account"
  providers = { aws = aws.prod }

  spacelift_hostname  = local.common.spacelift_hostname
  service_role_arns   = local.common.service_role_arns
  organization_id     = local.common.organization_id
  external_id         = var.accounts.prod.external_id
  allowed_policy_arns = local.common.allowed_policy_arns
}

module "staging" {
  source    = "../../modules/target-account"
  providers = { aws = aws.staging }

  spacelift_hostname  = local.common.spacelift_hostname
  service_role_arns   = local.common.service_role_arns
  organization_id     = local.common.organization_id
  external_id         = var.accounts.staging.external_id
  allowed_policy_arns = local.common.allowed_policy_arns
}

locals {
  # The first matching entry wins: list the narrower globs first.
  accounts = [
    merge(module.prod.account_entry, { spaces = var.accounts.prod.spaces }),
    merge(module.staging.account_entry, { spaces = var.accounts.staging.spaces }),
  ]
}
