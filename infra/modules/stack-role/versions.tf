terraform {
  # Kept low on purpose: consumers of this module may run older Terraform or OpenTofu.
  required_version = ">= 1.3"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 7.0"
    }
  }
}
