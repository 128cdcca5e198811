# An administrative stack that creates stacks and hands each one its vended role ARN as
# TF_VAR_aws_role_arn, so that the stacks themselves need no SSM lookup.

provider "spacelift" {
  # Inside an administrative Spacelift run the provider authenticates by itself.
}

provider "aws" {
  region = var.aws_region

  dynamic "assume_role_with_web_identity" {
    for_each = var.aws_role_arn == null ? [] : [var.aws_role_arn]
    content {
      role_arn                = assume_role_with_web_identity.value
      web_identity_token_file = "/mnt/workspace/spacelift.oidc"
      session_name            = "spacelift-admin-stack"
    }
  }
}

resource "spacelift_stack" "this" {
  for_each = var.stacks

  name         = each.key
  description  = each.value.description
  repository   = each.value.repository
  branch       = each.value.branch
  project_root = each.value.project_root
  space_id     = each.value.space_id
  labels       = each.value.labels
}

# The role does not exist yet when spacelift_stack returns: Spacelift first sends the
# stack-created audit event to the receiver, which queues it, and the provisioner then creates
# the role and publishes its ARN in SSM. Waiting here, and reading the parameter through the
# wait's `triggers` (unknown until the wait is over), defers the SSM read to apply time, after
# the pause. If the role is still missing when the wait ends, the apply fails with
# ParameterNotFound: nothing is lost, a second apply picks the ARN up (or raise
# role_wait_duration).
resource "time_sleep" "wait_for_role" {
  for_each = spacelift_stack.this

  create_duration = var.role_wait_duration

  triggers = {
    stack_id = each.value.id
  }
}

module "stack_role" {
  source   = "../../modules/stack-role"
  for_each = time_sleep.wait_for_role

  spacelift_account = var.spacelift_account
  stack_id          = each.value.triggers["stack_id"]
  parameter_prefix  = var.parameter_prefix
}

resource "spacelift_environment_variable" "aws_role_arn" {
  for_each = spacelift_stack.this

  stack_id = each.value.id
  name     = "TF_VAR_aws_role_arn"
  value    = module.stack_role[each.key].role_arn
  # A role ARN is not a secret; keeping it readable makes runs easier to debug.
  write_only = false
}

resource "spacelift_environment_variable" "spacelift_account" {
  for_each = spacelift_stack.this

  stack_id   = each.value.id
  name       = "TF_VAR_spacelift_account"
  value      = var.spacelift_account
  write_only = false
}
