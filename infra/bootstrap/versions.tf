terraform {
  # 1.11: write-only arguments carry the webhook secret (see modules/audit-webhook).
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7.0"
    }
    spacelift = {
      source = "spacelift-io/spacelift"
      # modules/audit-webhook uses secret_wo on spacelift_audit_trail_webhook: v1.44.0 or later.
      version = ">= 1.44.0, < 2.0"
    }
  }
}
