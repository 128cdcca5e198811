# Registers the Spacelift audit-trail webhook and publishes its secret to the receiver through
# SSM. The secret only ever flows into write-only arguments: it is in neither state nor plan.

resource "aws_ssm_parameter" "secret" {
  name             = var.secret_parameter_name
  description      = "Secret that signs Spacelift audit-trail webhooks for spacelift-role-vending (version ${var.secret_version})."
  type             = "SecureString"
  key_id           = var.kms_key_id
  value_wo         = var.secret
  value_wo_version = var.secret_version
  tags             = var.tags
}

# Rotation without downtime: keep the outgoing secret next to the new one while deliveries
# signed with it may still arrive (retries), and let the receiver accept either.
resource "aws_ssm_parameter" "previous_secret" {
  count = var.keep_previous_secret ? 1 : 0

  name             = var.previous_secret_parameter_name
  description      = "Previous Spacelift audit-trail webhook secret, accepted during a rotation."
  type             = "SecureString"
  key_id           = var.kms_key_id
  value_wo         = var.previous_secret
  value_wo_version = var.secret_version
  tags             = var.tags
}

resource "spacelift_audit_trail_webhook" "this" {
  endpoint = var.endpoint
  enabled  = var.enabled
  # Run state changes are not needed to vend roles and would only add load on the receiver.
  include_runs = false
  # Spacelift retries deliveries that fail with a 5xx; the receiver is idempotent.
  retry_on_failure = true

  secret_wo = var.secret
  # A new version re-creates the webhook (the provider forces replacement). Deliveries in the
  # few seconds between delete and create are lost: run the reconciler after a rotation.
  secret_wo_version = tostring(var.secret_version)

  # The receiver must know a secret before Spacelift starts signing with it.
  depends_on = [aws_ssm_parameter.secret, aws_ssm_parameter.previous_secret]
}
