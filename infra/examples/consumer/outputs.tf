output "role_arn" {
  description = "Role this run's default AWS provider assumed."
  value       = local.role_arn
}

output "reader_role_arn" {
  description = "Role of the reader stack that was granted access."
  value       = module.reader_role.role_arn
}

output "bucket_arn" {
  description = "ARN of the example bucket."
  value       = aws_s3_bucket.artifacts.arn
}

output "kms_key_arn" {
  description = "ARN of the example KMS key."
  value       = aws_kms_key.artifacts.arn
}
