terraform {
  # 1.9: validation blocks that refer to other variables (the role-path checks).
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Optional thumbprint_list on the OIDC provider and `minified_json` on policy documents.
      version = ">= 5.100, < 7.0"
    }
  }
}
