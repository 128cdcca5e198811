variable "spacelift_hostname" {
  type        = string
  description = "Hostname of the Spacelift account without scheme or path: `acme.app.spacelift.io` (SaaS), `acme.app.us.spacelift.io` (SaaS US) or a self-hosted domain. It is both the OIDC issuer host and the token audience."
  nullable    = false

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.spacelift_hostname))
    error_message = "The spacelift_hostname must be a lower-case DNS name such as acme.app.spacelift.io, without https:// or a trailing slash."
  }

  validation {
    condition     = !endswith(var.spacelift_hostname, ".spacelift.io") || can(regex("^[a-z0-9-]+\\.app(\\.us)?\\.spacelift\\.io$", var.spacelift_hostname))
    error_message = "Spacelift SaaS hostnames look like <account>.app.spacelift.io or <account>.app.us.spacelift.io."
  }

  validation {
    condition     = length(var.spacelift_hostname) <= 253
    error_message = "The spacelift_hostname must be at most 253 characters long."
  }
}

variable "create_oidc_provider" {
  type        = bool
  description = "Create the IAM OIDC identity provider. Set to false when the account already has one for this hostname (IAM allows one provider per URL); it is then looked up and must list the hostname as a client ID."
  default     = true
  nullable    = false
}

variable "thumbprint_list" {
  type        = list(string)
  description = "Server certificate thumbprints (40 hex characters each) of the issuer. Leave empty to let IAM obtain and trust the certificate itself, which AWS provider 5.81+ and IAM support."
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for thumbprint in var.thumbprint_list : can(regex("^[0-9a-fA-F]{40}$", thumbprint))])
    error_message = "Each thumbprint must be 40 hexadecimal characters."
  }

  validation {
    condition     = length(var.thumbprint_list) <= 5
    error_message = "IAM accepts at most 5 thumbprints."
  }
}

variable "boundary_policy_name" {
  type        = string
  description = "Name of the permissions-boundary managed policy that the role vending service attaches to every role it creates."
  default     = "spacelift-role-vending-boundary"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,128}$", var.boundary_policy_name))
    error_message = "The boundary_policy_name must be 1-128 characters of letters, digits and +=,.@_-."
  }
}

variable "boundary_policy_path" {
  type        = string
  description = "IAM path of the permissions-boundary policy. It must differ from delegated_role_path so that stacks cannot edit the boundary."
  default     = "/spacelift-role-vending/"
  nullable    = false

  validation {
    condition     = can(regex("^/([A-Za-z0-9+=,.@_-]+/)*$", var.boundary_policy_path))
    error_message = "The boundary_policy_path must start and end with / and contain only letters, digits and +=,.@_- between slashes."
  }
}

variable "vended_role_path" {
  type        = string
  description = "IAM path under which the role vending service creates stack and space roles. Must match the path configured in the serverless app. The boundary denies every change to roles under this path."
  default     = "/spacelift/"
  nullable    = false

  validation {
    condition     = can(regex("^/([A-Za-z0-9+=,.@_-]+/)+$", var.vended_role_path))
    error_message = "The vended_role_path must be a non-root IAM path such as /spacelift/ (start and end with /)."
  }
}

variable "allow_delegated_roles" {
  type        = bool
  description = "Let vended roles create and manage their own workload roles, policies and instance profiles under delegated_role_path, provided those roles carry this same permissions boundary. When false, vended roles cannot create or change any IAM role."
  default     = true
  nullable    = false
}

variable "delegated_role_path" {
  type        = string
  description = "IAM path under which vended roles may manage workload roles, customer-managed policies and instance profiles (when allow_delegated_roles is true). Must not overlap vended_role_path or boundary_policy_path."
  default     = "/spacelift-workloads/"
  nullable    = false

  validation {
    condition     = can(regex("^/([A-Za-z0-9+=,.@_-]+/)+$", var.delegated_role_path))
    error_message = "The delegated_role_path must be a non-root IAM path such as /spacelift-workloads/ (start and end with /)."
  }

  validation {
    condition     = !startswith(var.delegated_role_path, var.vended_role_path) && !startswith(var.vended_role_path, var.delegated_role_path)
    error_message = "The delegated_role_path must not overlap vended_role_path, otherwise stacks could edit each other's vended roles."
  }

  validation {
    condition     = !startswith(var.boundary_policy_path, var.delegated_role_path)
    error_message = "The boundary_policy_path must not be under delegated_role_path, otherwise stacks could edit the boundary."
  }
}

variable "excluded_actions" {
  type        = list(string)
  description = "The boundary's broad grant allows every action except these (an Allow statement with NotAction). The default keeps vended roles away from IAM, AWS Organizations, account settings and IAM Identity Center (whose permission sets and assignments, in an organization's management or delegated administrator account, grant access to every account). Ignored when broad_access is false."
  default     = ["iam:*", "organizations:*", "account:*", "sso:*", "sso-directory:*", "identitystore:*"]
  nullable    = false

  validation {
    condition     = length(var.excluded_actions) > 0 && alltrue([for action in var.excluded_actions : can(regex("^([a-z0-9-]+:[A-Za-z0-9*?]+|\\*)$", action))])
    error_message = "The excluded_actions must be a non-empty list of IAM actions such as iam:* or ec2:Delete*."
  }
}

variable "broad_access" {
  type        = bool
  description = "Include the broad grant (every action except excluded_actions). Set to false to turn the boundary into a strict allow-list made of allowed_actions only."
  default     = true
  nullable    = false
}

variable "allowed_actions" {
  type        = list(string)
  description = "Actions the boundary allows on every resource in addition to the broad grant (or instead of it when broad_access is false). The default re-allows read-only IAM so that Terraform can read roles and policies."
  default     = ["iam:Get*", "iam:List*"]
  nullable    = false

  validation {
    condition     = alltrue([for action in var.allowed_actions : can(regex("^([a-z0-9-]+:[A-Za-z0-9*?]+|\\*)$", action))])
    error_message = "Each allowed action must look like service:Action, e.g. s3:GetObject or iam:List*."
  }

  validation {
    condition     = var.broad_access || length(var.allowed_actions) > 0
    error_message = "With broad_access = false, allowed_actions must list at least one action, or the boundary allows nothing."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to the OIDC provider and the boundary policy."
  default     = {}
  nullable    = false
}

variable "assumable_role_arns" {
  type        = list(string)
  description = "Roles outside delegated_role_path that vended roles may assume (sts:AssumeRole), e.g. a DNS role in another account. Every other role is denied: the boundary's broad grant leaves out sts:AssumeRole*, and a vended role assumes only its own delegated roles."
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for arn in var.assumable_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", arn))])
    error_message = "Each assumable role must be an IAM role ARN."
  }
}

variable "product_name" {
  type        = string
  description = "Name prefix of the spacelift-role-vending deployment's resources: serverless.yml names them <service>-<stage>-* (functions, queues, table, CloudFormation stack, schedule rule, KMS alias alias/<service>-<stage>-secrets). The boundary denies vended roles every action on them."
  default     = "spacelift-role-vending"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9-]{3,64}$", var.product_name))
    error_message = "The product_name must be 3-64 letters, digits or hyphens."
  }
}

variable "product_parameter_path" {
  type        = string
  description = "SSM path of the product's own parameters: the webhook secrets and the Spacelift API key (serverless.yml's webhookSecretParameter, webhookSecretPreviousParameter and spaceliftApiKeyParameter must lie under it). The boundary denies vended roles every action on it."
  default     = "/spacelift-role-vending/"
  nullable    = false

  validation {
    condition     = can(regex("^/([A-Za-z0-9_.-]+/)+$", var.product_parameter_path))
    error_message = "The product_parameter_path must start and end with / (e.g. /spacelift-role-vending/)."
  }
}

variable "vended_parameter_prefix" {
  type        = string
  description = "SSM prefix under which the vending service publishes role ARNs (serverless.yml's parameterPrefix). The boundary denies vended roles every write under it."
  default     = "/spacelift"
  nullable    = false

  validation {
    condition     = can(regex("^(/[A-Za-z0-9_.-]+)+$", var.vended_parameter_prefix))
    error_message = "The vended_parameter_prefix must start with / and not end with / (e.g. /spacelift)."
  }
}
