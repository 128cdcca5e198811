output "oidc_provider_arn" {
  description = "Spacelift OIDC provider ARN; configure the serverless app with it."
  value       = module.oidc_provider.oidc_provider_arn
}

output "permissions_boundary_arn" {
  description = "Permissions-boundary policy ARN; configure the serverless app with it."
  value       = module.oidc_provider.permissions_boundary_arn
}

output "spacelift_hostname" {
  description = "Spacelift hostname (OIDC issuer and audience)."
  value       = module.oidc_provider.spacelift_hostname
}

output "spacelift_account" {
  description = "Spacelift account name derived from the hostname."
  value       = module.oidc_provider.spacelift_account
}

output "vended_role_path" {
  description = "IAM path the serverless app must create roles under."
  value       = module.oidc_provider.vended_role_path
}

output "webhook_secret_parameter_name" {
  description = "SecureString parameter the receiver reads the webhook secret from."
  value       = var.webhook_secret_parameter_name
}

output "webhook_previous_secret_parameter_name" {
  description = "SecureString parameter with the previous secret during a rotation, or null."
  value       = one(module.audit_webhook[*].previous_secret_parameter_name)
}

output "webhook_registered" {
  description = "Whether the audit-trail webhook is registered (webhook_endpoint was set)."
  value       = length(module.audit_webhook) > 0
}
