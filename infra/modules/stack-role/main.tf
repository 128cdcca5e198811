# Looks up the IAM role that spacelift-role-vending created for one stack.

data "aws_ssm_parameter" "role_arn" {
  name = "${var.parameter_prefix}/${var.spacelift_account}/stacks/${var.stack_id}/role-arn"

  lifecycle {
    postcondition {
      condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", self.value))
      error_message = "The parameter does not hold an IAM role ARN."
    }
  }
}

data "aws_ssm_parameter" "read_role_arn" {
  count = var.read_role ? 1 : 0

  name = "${var.parameter_prefix}/${var.spacelift_account}/stacks/${var.stack_id}/read-role-arn"

  lifecycle {
    postcondition {
      condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", self.value))
      error_message = "The parameter does not hold an IAM role ARN."
    }
  }
}

locals {
  # A role ARN is not a secret, but the data source marks every parameter value sensitive.
  role_arn      = nonsensitive(data.aws_ssm_parameter.role_arn.value)
  read_role_arn = var.read_role ? nonsensitive(data.aws_ssm_parameter.read_role_arn[0].value) : null
}
