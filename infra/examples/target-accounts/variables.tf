variable "region" {
  type        = string
  description = "Region the service runs and publishes role ARNs in."
  default     = "us-east-1"
}

variable "spacelift_hostname" {
  type        = string
  description = "e.g. acme.app.spacelift.io"

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.spacelift_hostname))
    error_message = "The spacelift_hostname must be a lower-case DNS name such as acme.app.spacelift.io."
  }

  validation {
    condition     = !endswith(var.spacelift_hostname, ".spacelift.io") || can(regex("^[a-z0-9-]+\\.app(\\.us)?\\.spacelift\\.io$", var.spacelift_hostname))
    error_message = "Spacelift SaaS hostnames look like <account>.app.spacelift.io or <account>.app.us.spacelift.io."
  }
}

variable "provisioner_role_arn" {
  type        = string
  description = "The service stack's ProvisionerRoleArn output."
}

variable "reconciler_role_arn" {
  type        = string
  description = "The service stack's ReconcilerRoleArn output."
}

variable "organization_id" {
  type        = string
  description = "The organization the service's account belongs to, or null (then every account needs an external_id)."
  default     = null
}

variable "allowed_policy_arns" {
  type        = list(string)
  description = "The service's allowedPolicyArns (AWS-managed ARNs are the same in every account)."
  default     = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
}

variable "deployment_role_name" {
  type        = string
  description = "Role this configuration assumes in each target account to apply the module."
  default     = "OrganizationAccountAccessRole"
}

variable "accounts" {
  type = object({
    prod = object({
      id          = string
      spaces      = list(string)
      external_id = optional(string)
    })
    staging = object({
      id          = string
      spaces      = list(string)
      external_id = optional(string)
    })
  })
  description = "Each target account: its ID, the spaces (IDs or globs) routed to it, and its external ID."
}
