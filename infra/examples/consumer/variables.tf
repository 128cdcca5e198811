variable "spacelift_stack_id" {
  type        = string
  description = "ID of the stack this run belongs to. Spacelift sets TF_VAR_spacelift_stack_id in every run."
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9_-]{1,128}$", var.spacelift_stack_id))
    error_message = "The spacelift_stack_id must be a Spacelift stack slug."
  }
}

variable "spacelift_account" {
  type        = string
  description = "Spacelift account name (`acme` for acme.app.spacelift.io). Set it once in a context attached to every stack (TF_VAR_spacelift_account)."
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,62}$", var.spacelift_account))
    error_message = "The spacelift_account must be the account name, not the hostname."
  }
}

variable "aws_region" {
  type        = string
  description = "AWS region for both providers."
  default     = "eu-west-1"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.aws_region))
    error_message = "The aws_region must be a region code such as eu-west-1."
  }
}

variable "aws_role_arn" {
  type        = string
  description = "This stack's role ARN when an administrative stack already injects it (TF_VAR_aws_role_arn, see examples/admin-stack). Null looks it up in SSM instead."
  default     = null

  validation {
    condition     = var.aws_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", var.aws_role_arn))
    error_message = "The aws_role_arn must be an IAM role ARN."
  }
}

variable "bootstrap_role_arn" {
  type        = string
  description = "Role the bootstrap provider assumes (with the same OIDC token) to read role ARNs from SSM; it needs only ssm:GetParameter on <prefix>/<account>/stacks/*. Null uses the worker's ambient credentials (e.g. an instance profile on a private worker pool)."
  default     = null

  validation {
    condition     = var.bootstrap_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", var.bootstrap_role_arn))
    error_message = "The bootstrap_role_arn must be an IAM role ARN."
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

variable "reader_stack_id" {
  type        = string
  description = "ID of another stack whose role gets read access to this stack's bucket and key (shows cross-stack grants by role ARN)."
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9_-]{1,128}$", var.reader_stack_id))
    error_message = "The reader_stack_id must be a Spacelift stack slug."
  }
}

variable "bucket_name" {
  type        = string
  description = "Name of the example S3 bucket."
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "The bucket_name must be a valid S3 bucket name (3-63 lower-case letters, digits, dots and hyphens)."
  }
}
