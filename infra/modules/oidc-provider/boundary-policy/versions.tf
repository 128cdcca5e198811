terraform {
  # for expressions over tuples, jsonencode: any 1.x; kept as low as the parent module allows.
  required_version = ">= 1.9"

  # No provider: the document is plain data, so the test suite can apply this module offline.
  required_providers {}
}
