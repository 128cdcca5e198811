output "vending_role_arn" {
  description = "ARN of the vending role (`vendingRoleArn` of the account's entry in the permissions file; also one of the service's `vendingRoleArns`)."
  value       = aws_iam_role.vending.arn
}

output "oidc_provider_arn" {
  description = "ARN of Spacelift's OIDC provider in this account."
  value       = module.oidc_provider.oidc_provider_arn
}

output "permissions_boundary_arn" {
  description = "ARN of the boundary every vended role in this account carries."
  value       = module.oidc_provider.permissions_boundary_arn
}

output "account_entry" {
  description = "This account's entry of the permissions file's `accounts` list, without `spaces` (which the file decides). Encode it with yamlencode/jsonencode."
  value = merge(
    {
      id                     = data.aws_caller_identity.current.account_id
      vendingRoleArn         = aws_iam_role.vending.arn
      oidcProviderArn        = module.oidc_provider.oidc_provider_arn
      permissionsBoundaryArn = module.oidc_provider.permissions_boundary_arn
    },
    var.external_id == null ? {} : { externalId = var.external_id },
  )
}
