output "permissions_accounts_yaml" {
  description = "The `accounts` section of the permissions file."
  value       = yamlencode({ accounts = local.accounts, defaultAccount = "service", publishInTargetAccount = true })
}

output "vending_role_arns" {
  description = "The service's `vendingRoleArns` parameter (comma-separated)."
  value       = join(",", [for account in local.accounts : account.vendingRoleArn])
}
