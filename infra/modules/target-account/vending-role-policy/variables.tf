# Inputs of the vending role's trust and permissions documents. The parent module passes its own
# variables (and the boundary it creates) through; the test suite applies this module alone (it
# needs no provider) and evaluates its outputs with an IAM policy evaluator.

variable "partition" {
  type        = string
  description = "AWS partition of the target account (aws, aws-cn, aws-us-gov)."
  nullable    = false
}

variable "account_id" {
  type        = string
  description = "ID of the target account (where the vending role and the vended roles live)."
  nullable    = false
}

variable "region" {
  type        = string
  description = "Region the service publishes role ARNs in (SSM parameters are regional)."
  nullable    = false
}

variable "service_role_arns" {
  type        = list(string)
  description = "The service's provisioner and reconciler role ARNs: the only principals the vending role trusts."
  nullable    = false

  validation {
    condition     = length(var.service_role_arns) > 0 && alltrue([for arn in var.service_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,64}$", arn))])
    error_message = "The service_role_arns must be one or more IAM role ARNs (no wildcards): the service's provisioner and reconciler roles."
  }
}

variable "external_id" {
  type        = string
  description = "External ID the service passes to sts:AssumeRole (the `externalId` of the account's entry in the permissions file), or null."
  default     = null

  validation {
    condition     = var.external_id == null || (can(regex("^[A-Za-z0-9_+=,.@:/-]+$", var.external_id)) && length(coalesce(var.external_id, "-")) >= 2 && length(coalesce(var.external_id, "-")) <= 1224)
    error_message = "The external_id must be 2-1224 characters of letters, digits and _+=,.@:/- (STS's limits)."
  }
}

variable "organization_id" {
  type        = string
  description = "AWS Organizations ID (o-…) the service's account belongs to, checked with aws:PrincipalOrgID, or null."
  default     = null

  validation {
    condition     = var.organization_id == null || can(regex("^o-[a-z0-9]{10,32}$", var.organization_id))
    error_message = "The organization_id must look like o-abcd123456."
  }

  validation {
    # Without either, only the role ARN would guard the trust: a role re-created with the same
    # name in the service account (a confused deputy) would be trusted too.
    condition     = var.external_id != null || var.organization_id != null
    error_message = "Set external_id or organization_id (or both): the vending role's trust must carry sts:ExternalId or aws:PrincipalOrgID."
  }
}

variable "vended_role_path" {
  type        = string
  description = "IAM path of the vended roles (`rolePath`)."
  nullable    = false

  validation {
    condition     = can(regex("^/([A-Za-z0-9+=,.@_-]+/)+$", var.vended_role_path))
    error_message = "The vended_role_path must be a non-root IAM path (start and end with /)."
  }
}

variable "role_name_prefix" {
  type        = string
  description = "Prefix of the vended roles' names (`roleNamePrefix`)."
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,32}$", var.role_name_prefix))
    error_message = "The role_name_prefix must be 1-32 characters of letters, digits and +=,.@_-."
  }
}

variable "vending_role_path" {
  type        = string
  description = "IAM path of the vending role itself; the vending role may not write roles there."
  nullable    = false

  validation {
    condition     = can(regex("^/([A-Za-z0-9+=,.@_-]+/)+$", var.vending_role_path))
    error_message = "The vending_role_path must be a non-root IAM path (start and end with /)."
  }

  validation {
    condition     = !startswith(var.vending_role_path, var.vended_role_path) && !startswith(var.vended_role_path, var.vending_role_path)
    error_message = "The vending_role_path must not overlap vended_role_path: the vending role would be one of the roles it writes."
  }
}

variable "permissions_boundary_arn" {
  type        = string
  description = "The boundary every vended role in this account carries (iam:PermissionsBoundary condition)."
  nullable    = false
}

variable "allowed_policy_arns" {
  type        = list(string)
  description = "Managed policy ARNs the vending role may attach (`allowedPolicyArns`); empty: none."
  nullable    = false
}

variable "parameter_prefix" {
  type        = string
  description = "SSM prefix the role ARNs are published under in this account (`parameterPrefix`)."
  nullable    = false

  validation {
    condition     = can(regex("^(/[A-Za-z0-9_.-]+)+$", var.parameter_prefix))
    error_message = "The parameter_prefix must be an SSM path such as /spacelift (no trailing slash)."
  }
}
