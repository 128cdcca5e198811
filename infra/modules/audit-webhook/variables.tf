variable "endpoint" {
  type        = string
  description = "HTTPS URL of the deployed audit-trail receiver (the serverless app's webhook endpoint)."
  nullable    = false

  validation {
    condition     = can(regex("^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[^\\s]*)?$", var.endpoint))
    error_message = "The endpoint must be an https:// URL."
  }
}

variable "secret" {
  type        = string
  description = "Shared secret Spacelift uses to sign audit payloads (X-Signature-256). It only reaches write-only arguments, so it is never stored in state or in the plan. Provide it on every plan and apply (e.g. a secret TF_VAR_ environment variable)."
  sensitive   = true
  ephemeral   = true
  nullable    = false

  validation {
    condition     = length(var.secret) >= 32
    error_message = "The webhook secret must be at least 32 characters long."
  }
}

variable "secret_version" {
  type        = number
  description = "Version of `secret`. Write-only values are not in state, so Terraform only re-sends the secret when this number changes: increase it whenever you change `secret` (or `previous_secret`). Changing it re-creates the Spacelift webhook."
  default     = 1
  nullable    = false

  validation {
    condition     = var.secret_version >= 1 && floor(var.secret_version) == var.secret_version
    error_message = "The secret_version must be a positive whole number."
  }
}

variable "keep_previous_secret" {
  type        = bool
  description = "Store `previous_secret` in a second SecureString parameter while a rotation is in progress, so that the receiver accepts payloads signed with either secret. Set back to false (which deletes the parameter) once the rotation is over."
  default     = false
  nullable    = false
}

variable "previous_secret" {
  type        = string
  description = "The secret being rotated out. Required when keep_previous_secret is true, ignored otherwise."
  default     = null
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = var.previous_secret == null ? true : length(var.previous_secret) >= 32
    error_message = "The previous webhook secret must be at least 32 characters long."
  }

  validation {
    condition     = !var.keep_previous_secret || var.previous_secret != null
    error_message = "Set previous_secret when keep_previous_secret is true."
  }
}

variable "enabled" {
  type        = bool
  description = "Whether Spacelift delivers audit events to the endpoint."
  default     = true
  nullable    = false
}

variable "secret_parameter_name" {
  type        = string
  description = "Name of the SSM SecureString parameter holding the current secret; the receiver reads it to verify signatures."
  default     = "/spacelift-role-vending/webhook-secret"
  nullable    = false

  validation {
    condition     = can(regex("^(/[A-Za-z0-9_.-]+)+$", var.secret_parameter_name))
    error_message = "The secret_parameter_name must be a hierarchical SSM name starting with / (letters, digits, _ . - between slashes, no trailing slash)."
  }
}

variable "previous_secret_parameter_name" {
  type        = string
  description = "Name of the SSM SecureString parameter holding the previous secret during a rotation."
  default     = "/spacelift-role-vending/webhook-secret-previous"
  nullable    = false

  validation {
    condition     = can(regex("^(/[A-Za-z0-9_.-]+)+$", var.previous_secret_parameter_name))
    error_message = "The previous_secret_parameter_name must be a hierarchical SSM name starting with / (letters, digits, _ . - between slashes, no trailing slash)."
  }
}

variable "kms_key_id" {
  type        = string
  description = "ARN (or alias/…) of the KMS key the deployed stack creates for its secrets: its `SecretsKeyArn` output, or alias/spacelift-role-vending-<stage>-secrets. Its key policy lets only the receiver, the reconciler and the listed operators decrypt. The AWS-managed aws/ssm key is refused: every principal of the account allowed ssm:GetParameter (ReadOnlyAccess, for one) could decrypt the secret with it."
  nullable    = false

  validation {
    condition     = can(regex("^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/|alias/)", var.kms_key_id))
    error_message = "The kms_key_id must be a key ARN, an alias ARN or alias/<name>."
  }

  validation {
    condition     = !endswith(var.kms_key_id, "alias/aws/ssm")
    error_message = "The AWS-managed aws/ssm key lets every principal that may read the parameter decrypt it; use the stack's SecretsKeyArn."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to the SSM parameters."
  default     = {}
  nullable    = false
}
