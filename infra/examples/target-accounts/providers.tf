# One provider configuration per target account. Terraform cannot for_each over providers (a
# module's providers are fixed when the configuration is loaded), so each account is one alias
# here and one module block in main.tf: adding an account means adding both. For tens of
# accounts, deploy the same resources with a CloudFormation StackSet (service-managed, targeting
# an OU) instead, or generate these two files.

provider "aws" {
  alias  = "prod"
  region = var.region
  assume_role {
    role_arn = "arn:aws:iam::${var.accounts.prod.id}:role/${var.deployment_role_name}"
  }
}

provider "aws" {
  alias  = "staging"
  region = var.region
  assume_role {
    role_arn = "arn:aws:iam::${var.accounts.staging.id}:role/${var.deployment_role_name}"
  }
}
