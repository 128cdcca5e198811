terraform {
  # Validation blocks that refer to other variables (external_id / organization_id): 1.9.
  required_version = ">= 1.9"

  # No provider: the documents are plain data, so the test suite can apply this module offline.
  required_providers {}
}
