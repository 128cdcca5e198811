# Two AWS providers: a bootstrap one that only reads this stack's role ARN from SSM, and the
# default one that every resource uses, which assumes that role with the run's OIDC token.

provider "aws" {
  alias  = "bootstrap"
  region = var.aws_region

  dynamic "assume_role_with_web_identity" {
    for_each = var.bootstrap_role_arn == null ? [] : [var.bootstrap_role_arn]
    content {
      role_arn                = assume_role_with_web_identity.value
      web_identity_token_file = "/mnt/workspace/spacelift.oidc"
      session_name            = substr("bootstrap-${var.spacelift_stack_id}", 0, 64)
    }
  }
}

module "stack_role" {
  source = "../../modules/stack-role"
  count  = var.aws_role_arn == null ? 1 : 0

  providers = {
    aws = aws.bootstrap
  }

  spacelift_account = var.spacelift_account
  stack_id          = var.spacelift_stack_id
  parameter_prefix  = var.parameter_prefix
}

locals {
  role_arn = var.aws_role_arn != null ? var.aws_role_arn : module.stack_role[0].role_arn
}

provider "aws" {
  region = var.aws_region

  assume_role_with_web_identity {
    role_arn = local.role_arn
    # Spacelift writes the run's OIDC token here (and into SPACELIFT_OIDC_TOKEN). The role's
    # trust policy only accepts tokens whose `sub` names this stack.
    web_identity_token_file = "/mnt/workspace/spacelift.oidc"
    # Session names show up in CloudTrail; at most 64 characters.
    session_name = substr("spacelift-${var.spacelift_stack_id}", 0, 64)
  }

  default_tags {
    tags = {
      "spacelift:stack" = var.spacelift_stack_id
    }
  }
}
