# Looks up the IAM role that spacelift-role-vending created for one stack.
#
# The parameter's value decides which role this stack's runs assume, so it is not trusted
# blindly: it must name a role of the expected account (by default the one these credentials
# are in), under the vended path and name prefix. A parameter rewritten to point at another
# account's role would otherwise send this stack's runs, and their data, there.

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

locals {
  account_id = coalesce(var.account_id, data.aws_caller_identity.current.account_id)
  # Every role ARN this module accepts starts with this; the rest is one role name.
  expected_role_arn_prefix = "arn:${data.aws_partition.current.partition}:iam::${local.account_id}:role${var.role_path}${var.role_name_prefix}"
}

data "aws_ssm_parameter" "role_arn" {
  name = "${var.parameter_prefix}/${var.spacelift_account}/stacks/${var.stack_id}/role-arn"

  lifecycle {
    postcondition {
      condition     = startswith(self.value, local.expected_role_arn_prefix) && can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", trimprefix(self.value, local.expected_role_arn_prefix)))
      error_message = "The parameter does not hold a vended role ARN of the expected account, path and name prefix (${local.expected_role_arn_prefix}…); refusing to assume a role it names."
    }
  }
}

data "aws_ssm_parameter" "read_role_arn" {
  count = var.read_role ? 1 : 0

  name = "${var.parameter_prefix}/${var.spacelift_account}/stacks/${var.stack_id}/read-role-arn"

  lifecycle {
    postcondition {
      condition     = startswith(self.value, local.expected_role_arn_prefix) && can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", trimprefix(self.value, local.expected_role_arn_prefix)))
      error_message = "The parameter does not hold a vended role ARN of the expected account, path and name prefix (${local.expected_role_arn_prefix}…); refusing to assume a role it names."
    }
  }
}

locals {
  # A role ARN is not a secret, but the data source marks every parameter value sensitive.
  role_arn      = nonsensitive(data.aws_ssm_parameter.role_arn.value)
  read_role_arn = var.read_role ? nonsensitive(data.aws_ssm_parameter.read_role_arn[0].value) : null
}
