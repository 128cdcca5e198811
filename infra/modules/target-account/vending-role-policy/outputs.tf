output "trust_json" {
  description = "The vending role's trust policy, minified JSON, as sent to IAM."
  value       = jsonencode(local.trust)
}

output "policy_json" {
  description = "The vending role's permissions, minified JSON, as sent to IAM."
  value       = jsonencode(local.permissions)
}
