terraform {
  # 1.11: write-only arguments (`secret_wo`, `value_wo`) keep the secret out of state and plan.
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # aws_ssm_parameter.value_wo / value_wo_version.
      version = ">= 5.100, < 7.0"
    }
    spacelift = {
      source = "spacelift-io/spacelift"
      # `secret_wo`/`secret_wo_version` and `retry_on_failure` on spacelift_audit_trail_webhook
      # need a provider release from February 2026 or later
      # (spacelift-io/terraform-provider-spacelift#738). The exact first version could not be
      # checked offline: raise this floor to it when you pin the provider in your lock file.
      version = ">= 1.0, < 2.0"
    }
  }
}
