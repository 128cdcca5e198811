# One-time setup, applied in two passes (see ../README.md):
#   1. without webhook_endpoint: OIDC provider and permissions boundary; then deploy the app
#      with the outputs of this pass;
#   2. with webhook_endpoint (and webhook_secret): register the audit-trail webhook.

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = merge({ "app" = "spacelift-role-vending" }, var.tags)
  }
}

provider "spacelift" {
  # Authenticates from SPACELIFT_API_KEY_ENDPOINT / _ID / _SECRET, or by itself inside an
  # administrative Spacelift run. Managing the audit trail needs account admin rights.
}

module "oidc_provider" {
  source = "../modules/oidc-provider"

  spacelift_hostname    = var.spacelift_hostname
  create_oidc_provider  = var.create_oidc_provider
  vended_role_path      = var.vended_role_path
  allow_delegated_roles = var.boundary_allow_delegated_roles
  # null falls back to the module's defaults (its variables are non-nullable).
  excluded_actions = var.boundary_excluded_actions
  allowed_actions  = var.boundary_allowed_actions
}

module "audit_webhook" {
  source = "../modules/audit-webhook"
  count  = var.webhook_endpoint == null ? 0 : 1

  endpoint              = var.webhook_endpoint
  secret                = var.webhook_secret
  secret_version        = var.webhook_secret_version
  keep_previous_secret  = var.webhook_keep_previous_secret
  previous_secret       = var.webhook_previous_secret
  secret_parameter_name = var.webhook_secret_parameter_name
  kms_key_id            = var.kms_key_id
}
