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
      # spacelift_audit_trail_webhook: `secret_wo`/`secret_wo_version` from v1.44.0 (which also
      # has `retry_on_failure`, v1.33.0, and `include_runs`, v1.9.0). Older releases fail the
      # plan with "Unsupported argument" (test/infra/terraform.test.ts checks these floors).
      version = ">= 1.44.0, < 2.0"
    }
  }
}
