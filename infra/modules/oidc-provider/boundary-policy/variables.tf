# Inputs of the boundary document. The parent module passes its own variables through; the
# test suite applies this module alone (it needs no provider) and evaluates its output.

variable "partition" {
  type        = string
  description = "AWS partition of the account (aws, aws-cn, aws-us-gov)."
  nullable    = false
}

variable "account_id" {
  type        = string
  description = "ID of the account the boundary is created in."
  nullable    = false
}

variable "boundary_policy_path" {
  type        = string
  description = "IAM path of the boundary policy itself."
  nullable    = false
}

variable "boundary_policy_name" {
  type        = string
  description = "Name of the boundary policy itself."
  nullable    = false
}

variable "vended_role_path" {
  type        = string
  description = "IAM path of the vended roles."
  nullable    = false

  validation {
    condition     = can(regex("^/([A-Za-z0-9+=,.@_-]+/)+$", var.vended_role_path))
    error_message = "The vended_role_path must be a non-root IAM path (start and end with /)."
  }
}

variable "allow_delegated_roles" {
  type        = bool
  description = "Let vended roles manage workload roles under delegated_role_path."
  nullable    = false
}

variable "delegated_role_path" {
  type        = string
  description = "IAM path of the workload roles vended roles may manage."
  nullable    = false

  validation {
    condition     = can(regex("^/([A-Za-z0-9+=,.@_-]+/)+$", var.delegated_role_path))
    error_message = "The delegated_role_path must be a non-root IAM path (start and end with /)."
  }
}

variable "excluded_actions" {
  type        = list(string)
  description = "Actions the broad grant leaves out."
  nullable    = false
}

variable "broad_access" {
  type        = bool
  description = "Include the broad grant."
  nullable    = false
}

variable "allowed_actions" {
  type        = list(string)
  description = "Actions allowed on every resource besides the broad grant."
  nullable    = false
}

variable "assumable_role_arns" {
  type        = list(string)
  description = "Roles outside the delegated path that vended roles may assume (e.g. in other accounts)."
  nullable    = false
}

variable "product_name" {
  type        = string
  description = "Name prefix of the product's resources (functions, queues, table, stack, key alias)."
  nullable    = false
}

variable "product_parameter_path" {
  type        = string
  description = "SSM path of the product's own parameters (secrets)."
  nullable    = false
}

variable "vended_parameter_prefix" {
  type        = string
  description = "SSM prefix the product publishes role ARNs under."
  nullable    = false
}
