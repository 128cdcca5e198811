output "json" {
  description = "The boundary policy document, minified JSON, as sent to IAM."
  value       = jsonencode(local.document)
}
