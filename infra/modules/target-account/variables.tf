# The service's side (role ARNs, external ID or organization) and the settings that must match
# the service's deployment (rolePath, roleNamePrefix, parameterPrefix, allowedPolicyArns).

variable "spacelift_hostname" {
  type        = string
  description = "Hostname of the Spacelift account, e.g. `acme.app.spacelift.io` (modules/oidc-provider)."
  nullable    = false

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.spacelift_hostname))
    error_message = "The spacelift_hostname must be a lower-case DNS name such as acme.app.spacelift.io, without https:// or a trailing slash."
  }

  validation {
    condition     = !endswith(var.spacelift_hostname, ".spacelift.io") || can(regex("^[a-z0-9-]+\\.app(\\.us)?\\.spacelift\\.io$", var.spacelift_hostname))
    error_message = "Spacelift SaaS hostnames look like <account>.app.spacelift.io or <account>.app.us.spacelift.io."
  }
}

variable "create_oidc_provider" {
  type        = bool
  description = "Create Spacelift's OIDC provider in this account; false looks up the existing one for the hostname (IAM allows one per URL)."
  default     = true
  nullable    = false
}

variable "service_role_arns" {
  type        = list(string)
  description = "The service's provisioner and reconciler role ARNs (the stack outputs ProvisionerRoleArn and ReconcilerRoleArn): the only principals the vending role trusts."
  nullable    = false
}

variable "external_id" {
  type        = string
  description = "External ID the trust requires (`externalId` of the account's entry in the permissions file). Set it, organization_id, or both."
  default     = null
}

variable "organization_id" {
  type        = string
  description = "AWS Organizations ID the service's account belongs to (aws:PrincipalOrgID). Set it, external_id, or both."
  default     = null
}

variable "vending_role_name" {
  type        = string
  description = "Name of the vending role."
  default     = "spacelift-role-vending"
  nullable    = false
}

variable "vending_role_path" {
  type        = string
  description = "Path of the vending role; must not overlap vended_role_path or delegated_role_path."
  default     = "/spacelift-role-vending/"
  nullable    = false

  validation {
    condition     = !startswith(var.vending_role_path, var.delegated_role_path) && !startswith(var.delegated_role_path, var.vending_role_path)
    error_message = "The vending_role_path must not overlap delegated_role_path: the boundary lets vended roles manage and assume roles there."
  }
}

variable "vended_role_path" {
  type        = string
  description = "Path of the vended roles (the service's `rolePath`)."
  default     = "/spacelift/"
  nullable    = false
  validation {
    condition     = can(regex("^/([A-Za-z0-9+=,.@_-]+/)+$", var.vended_role_path))
    error_message = "The vended_role_path must be a non-root IAM path (start and end with /)."
  }
}

variable "role_name_prefix" {
  type        = string
  description = "Prefix of the vended roles' names (the service's `roleNamePrefix`)."
  default     = "spacelift-"
  nullable    = false
}

variable "parameter_prefix" {
  type        = string
  description = "SSM prefix the role ARNs are published under in this account (the service's `parameterPrefix`)."
  default     = "/spacelift"
  nullable    = false
  validation {
    condition     = can(regex("^(/[A-Za-z0-9_.-]+)+$", var.parameter_prefix))
    error_message = "The parameter_prefix must start with / and not end with / (e.g. /spacelift)."
  }
}

variable "allowed_policy_arns" {
  type        = list(string)
  description = "Managed policy ARNs the vending role may attach (the service's `allowedPolicyArns`, with this account's customer-managed policies). Empty: none."
  default     = []
  nullable    = false
}

variable "boundary_policy_name" {
  type        = string
  description = "Name of the boundary policy (modules/oidc-provider)."
  default     = "spacelift-role-vending-boundary"
  nullable    = false
}

variable "boundary_policy_path" {
  type        = string
  description = "Path of the boundary policy (modules/oidc-provider)."
  default     = "/spacelift-role-vending/"
  nullable    = false
}

variable "allow_delegated_roles" {
  type        = bool
  description = "Let vended roles manage workload roles under delegated_role_path (modules/oidc-provider)."
  default     = true
  nullable    = false
}

variable "delegated_role_path" {
  type        = string
  description = "Path of the workload roles vended roles may manage (modules/oidc-provider)."
  default     = "/spacelift-workloads/"
  nullable    = false
  validation {
    condition     = can(regex("^/([A-Za-z0-9+=,.@_-]+/)+$", var.delegated_role_path))
    error_message = "The delegated_role_path must be a non-root IAM path (start and end with /)."
  }
}

variable "product_name" {
  type        = string
  description = "Name prefix of the product's resources (modules/oidc-provider)."
  default     = "spacelift-role-vending"
  nullable    = false
}

variable "tags" {
  type        = map(string)
  description = "Tags on the provider, boundary and vending role."
  default     = {}
  nullable    = false
}
