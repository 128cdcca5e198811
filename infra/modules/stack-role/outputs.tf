output "role_arn" {
  description = "ARN of the stack's IAM role, for `assume_role_with_web_identity` or for resource policies."
  value       = local.role_arn
}

output "role_name" {
  description = "Name of the stack's IAM role (the last segment of the ARN, without its path)."
  value       = element(split("/", local.role_arn), length(split("/", local.role_arn)) - 1)
}

output "read_role_arn" {
  description = "ARN of the stack's read-only role, or null unless read_role is true."
  value       = local.read_role_arn
}

output "read_role_name" {
  description = "Name of the stack's read-only role, or null unless read_role is true."
  value       = local.read_role_arn == null ? null : element(split("/", local.read_role_arn), length(split("/", local.read_role_arn)) - 1)
}

output "parameter_name" {
  description = "SSM parameter the role ARN was read from."
  value       = data.aws_ssm_parameter.role_arn.name
}
