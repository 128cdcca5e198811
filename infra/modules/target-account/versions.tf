terraform {
  # 1.9: validation blocks that refer to other variables (external_id / organization_id).
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # As modules/oidc-provider, which this module calls.
      version = ">= 5.100, < 7.0"
    }
  }
}
