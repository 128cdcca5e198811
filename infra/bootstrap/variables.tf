variable "aws_region" {
  type        = string
  description = "AWS region of the serverless app; the webhook-secret parameters are created here. (IAM is global.)"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.aws_region))
    error_message = "The aws_region must be a region code such as eu-west-1."
  }
}

variable "spacelift_hostname" {
  type        = string
  description = "Spacelift account hostname, e.g. acme.app.spacelift.io."
  nullable    = false

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.spacelift_hostname))
    error_message = "The spacelift_hostname must be a lower-case DNS name such as acme.app.spacelift.io, without https://."
  }

  validation {
    condition     = !endswith(var.spacelift_hostname, ".spacelift.io") || can(regex("^[a-z0-9-]+\\.app(\\.us)?\\.spacelift\\.io$", var.spacelift_hostname))
    error_message = "Spacelift SaaS hostnames look like <account>.app.spacelift.io or <account>.app.us.spacelift.io."
  }
}

variable "create_oidc_provider" {
  type        = bool
  description = "Create the Spacelift OIDC provider; false reuses the account's existing one for this hostname."
  default     = true
  nullable    = false
}

variable "vended_role_path" {
  type        = string
  description = "IAM path the vending service creates roles under (must match the serverless app's configuration)."
  default     = "/spacelift/"
  nullable    = false

  validation {
    condition     = can(regex("^/([A-Za-z0-9+=,.@_-]+/)+$", var.vended_role_path))
    error_message = "The vended_role_path must be a non-root IAM path such as /spacelift/."
  }
}

variable "boundary_allow_delegated_roles" {
  type        = bool
  description = "Let vended roles manage workload roles under /spacelift-workloads/ (always with the same boundary)."
  default     = true
  nullable    = false
}

variable "boundary_excluded_actions" {
  type        = list(string)
  description = "Actions outside the boundary's broad grant. Null keeps the module default (iam:*, organizations:*, account:*, sso:*, sso-directory:*, identitystore:*)."
  default     = null
}

variable "boundary_allowed_actions" {
  type        = list(string)
  description = "Extra actions the boundary allows on every resource. Null keeps the module default (read-only IAM)."
  default     = null
}

variable "webhook_endpoint" {
  type        = string
  description = "HTTPS URL of the deployed receiver. Leave null on the first apply (before the serverless app exists); set it and apply again to register the webhook."
  default     = null

  validation {
    condition     = var.webhook_endpoint == null || can(regex("^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[^\\s]*)?$", var.webhook_endpoint))
    error_message = "The webhook_endpoint must be an https:// URL."
  }
}

variable "webhook_secret" {
  type        = string
  description = "Webhook signing secret (at least 32 characters); required once webhook_endpoint is set. Ephemeral: pass it on every plan and apply, e.g. as a secret TF_VAR_webhook_secret."
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "webhook_secret_version" {
  type        = number
  description = "Increase whenever webhook_secret changes, so that the new value is written (write-only values are not in state)."
  default     = 1
  nullable    = false

  validation {
    condition     = var.webhook_secret_version >= 1 && floor(var.webhook_secret_version) == var.webhook_secret_version
    error_message = "The webhook_secret_version must be a positive whole number."
  }
}

variable "webhook_keep_previous_secret" {
  type        = bool
  description = "During a rotation, keep webhook_previous_secret in the -previous parameter so that the receiver accepts both."
  default     = false
  nullable    = false
}

variable "webhook_previous_secret" {
  type        = string
  description = "The secret being rotated out (with webhook_keep_previous_secret = true)."
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "webhook_secret_parameter_name" {
  type        = string
  description = "SSM SecureString parameter for the current webhook secret."
  default     = "/spacelift-role-vending/webhook-secret"
  nullable    = false

  validation {
    condition     = can(regex("^(/[A-Za-z0-9_.-]+)+$", var.webhook_secret_parameter_name))
    error_message = "The webhook_secret_parameter_name must start with / and must not end with /."
  }
}

variable "kms_key_id" {
  type        = string
  description = "KMS key for the SecureString parameters: the deployed stack's SecretsKeyArn output (required with webhook_endpoint)."
  default     = null

  validation {
    condition     = var.kms_key_id == null || can(regex("^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/|alias/)", coalesce(var.kms_key_id, "-")))
    error_message = "The kms_key_id must be a key ARN, an alias ARN or alias/<name>."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags for every AWS resource created here."
  default     = {}
  nullable    = false
}
