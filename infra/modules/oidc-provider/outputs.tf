output "oidc_provider_arn" {
  description = "ARN of the IAM OIDC identity provider for Spacelift; the vending service puts it in every role's trust policy as the Federated principal."
  value       = local.oidc_provider_arn
}

output "permissions_boundary_arn" {
  description = "ARN of the permissions-boundary policy the vending service attaches to every role it creates."
  value       = aws_iam_policy.boundary.arn
}

output "permissions_boundary_name" {
  description = "Name of the permissions-boundary policy."
  value       = aws_iam_policy.boundary.name
}

output "spacelift_hostname" {
  description = "Spacelift hostname: the OIDC issuer host, the token audience and the prefix of the `sub`/`aud` condition keys (`<hostname>:sub`)."
  value       = var.spacelift_hostname
}

output "spacelift_account" {
  description = "First DNS label of the hostname, which is the account name on Spacelift SaaS (the `<account>` segment of parameter names). For self-hosted domains check that it matches your account name."
  value       = split(".", var.spacelift_hostname)[0]
}

output "vended_role_path" {
  description = "IAM path the vending service must create roles under (the boundary protects it)."
  value       = var.vended_role_path
}

output "delegated_role_path" {
  description = "IAM path under which vended roles may manage workload roles, or null when delegation is off."
  value       = var.allow_delegated_roles ? var.delegated_role_path : null
}
