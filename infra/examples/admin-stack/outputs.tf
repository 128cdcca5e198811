output "stack_ids" {
  description = "IDs of the created stacks, by stack name."
  value       = { for name, stack in spacelift_stack.this : name => stack.id }
}

output "stack_role_arns" {
  description = "Vended role ARN of each created stack, by stack name."
  value       = { for name, role in module.stack_role : name => role.role_arn }
}
