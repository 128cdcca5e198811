variable "spacelift_account" {
  type        = string
  description = "Spacelift account name (`acme` for acme.app.spacelift.io); the `<account>` segment of the SSM parameter names."
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,62}$", var.spacelift_account))
    error_message = "The spacelift_account must be the account name, not the hostname."
  }
}

variable "aws_region" {
  type        = string
  description = "AWS region where the vending service publishes role ARNs."
  default     = "eu-west-1"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.aws_region))
    error_message = "The aws_region must be a region code such as eu-west-1."
  }
}

variable "aws_role_arn" {
  type        = string
  description = "This administrative stack's own role, assumed with the run's OIDC token. It needs ssm:GetParameter on <prefix>/<account>/stacks/*. Null uses ambient credentials (e.g. a Spacelift AWS integration)."
  default     = null

  validation {
    condition     = var.aws_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", var.aws_role_arn))
    error_message = "The aws_role_arn must be an IAM role ARN."
  }
}

variable "parameter_prefix" {
  type        = string
  description = "SSM prefix the vending service publishes role ARNs under."
  default     = "/spacelift"
  nullable    = false

  validation {
    condition     = can(regex("^(/[A-Za-z0-9_.-]+)+$", var.parameter_prefix))
    error_message = "The parameter_prefix must start with / and must not end with /."
  }
}

variable "role_wait_duration" {
  type        = string
  description = "How long to wait after creating a stack before reading its role ARN. The vending service creates the role asynchronously from the audit-trail event, usually within a minute."
  default     = "90s"
  nullable    = false

  validation {
    condition     = can(regex("^[0-9]+(s|m)$", var.role_wait_duration))
    error_message = "The role_wait_duration must be a duration such as 90s or 3m."
  }
}

variable "stacks" {
  type = map(object({
    repository   = string
    branch       = optional(string, "main")
    project_root = optional(string, "")
    space_id     = optional(string, "root")
    labels       = optional(set(string), [])
    description  = optional(string, "")
  }))
  description = "Stacks to create, keyed by stack name (Spacelift derives the stack ID from it)."
  nullable    = false

  validation {
    condition     = alltrue([for name in keys(var.stacks) : can(regex("^[A-Za-z0-9][A-Za-z0-9 _-]{0,127}$", name))])
    error_message = "Stack names must be 1-128 letters, digits, spaces, _ or -."
  }
}
