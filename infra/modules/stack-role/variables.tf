variable "spacelift_account" {
  type        = string
  description = "Spacelift account name: the first label of its hostname (`acme` for acme.app.spacelift.io)."
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,62}$", var.spacelift_account))
    error_message = "The spacelift_account must be the account name (lower-case letters, digits and -), not the full hostname."
  }
}

variable "stack_id" {
  type        = string
  description = "ID (slug) of the Spacelift stack whose role to look up. Inside a run, Spacelift sets TF_VAR_spacelift_stack_id."
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9_-]{1,128}$", var.stack_id))
    error_message = "The stack_id must be a Spacelift stack slug: 1-128 lower-case letters, digits, _ or -."
  }
}

variable "parameter_prefix" {
  type        = string
  description = "SSM prefix under which the vending service publishes role ARNs (`<prefix>/<account>/stacks/<stack_id>/role-arn`)."
  default     = "/spacelift"
  nullable    = false

  validation {
    condition     = can(regex("^(/[A-Za-z0-9_.-]+)+$", var.parameter_prefix))
    error_message = "The parameter_prefix must start with / and must not end with / (e.g. /spacelift)."
  }
}

variable "read_role" {
  type        = bool
  description = "Also read the stack's read-only role ARN (`.../read-role-arn`), which the vending service publishes for proposed runs."
  default     = false
  nullable    = false
}

variable "account_id" {
  type        = string
  description = "AWS account the stack's role must be in. Null: the account of the credentials reading the parameter. A parameter naming a role anywhere else fails the plan."
  default     = null

  validation {
    condition     = var.account_id == null || can(regex("^[0-9]{12}$", coalesce(var.account_id, "-")))
    error_message = "The account_id must be a 12-digit AWS account ID."
  }
}

variable "role_path" {
  type        = string
  description = "IAM path of the vended roles (serverless.yml's rolePath). A parameter naming a role under any other path fails the plan."
  default     = "/spacelift/"
  nullable    = false

  validation {
    condition     = can(regex("^/([A-Za-z0-9+=,.@_-]+/)*$", var.role_path))
    error_message = "The role_path must start and end with / (e.g. /spacelift/)."
  }
}

variable "role_name_prefix" {
  type        = string
  description = "Name prefix of the vended roles (serverless.yml's roleNamePrefix)."
  default     = "spacelift-"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{0,40}$", var.role_name_prefix))
    error_message = "The role_name_prefix may hold only letters, digits and +=,.@_- (at most 40)."
  }
}
