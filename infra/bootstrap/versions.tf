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
      # Needs a release with secret_wo on spacelift_audit_trail_webhook (2026-02 or later).
      version = "~> 1.0"
    }
  }
}
