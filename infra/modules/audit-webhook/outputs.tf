output "webhook_id" {
  description = "ID of the Spacelift audit-trail webhook resource."
  value       = spacelift_audit_trail_webhook.this.id
}

output "endpoint" {
  description = "Endpoint Spacelift delivers audit events to."
  value       = spacelift_audit_trail_webhook.this.endpoint
}

output "secret_parameter_name" {
  description = "Name of the SecureString parameter with the current secret (give the receiver ssm:GetParameter on it)."
  value       = aws_ssm_parameter.secret.name
}

output "secret_parameter_arn" {
  description = "ARN of the SecureString parameter with the current secret."
  value       = aws_ssm_parameter.secret.arn
}

output "previous_secret_parameter_name" {
  description = "Name of the SecureString parameter with the previous secret; the receiver should treat a missing parameter as 'no rotation in progress'. Null when keep_previous_secret is false."
  value       = one(aws_ssm_parameter.previous_secret[*].name)
}

output "previous_secret_parameter_arn" {
  description = "ARN of the SecureString parameter with the previous secret, or null."
  value       = one(aws_ssm_parameter.previous_secret[*].arn)
}
