// biome-ignore-all lint/suspicious/noTemplateCurlyInString: HCL interpolations ("${var.x}") as hcl2json returns them, not JavaScript templates.
/**
 * The permissions boundary infra/modules/oidc-provider sends to IAM, as JSON, computed by
 * Terraform itself: the module builds the document in the provider-free submodule
 * `boundary-policy/` (jsonencode of a local), so this helper applies that submodule alone in a
 * temporary directory, with the arguments the parent module passes it (terraform-module.ts:
 * the parent's variable defaults, overridable per test, and the account and partition).
 */
import { join } from "node:path";
import { SERVICE_DIR } from "./serverless-template.ts";
import { renderModuleCall } from "./terraform-module.ts";

export const BOUNDARY_ACCOUNT_ID = "123456789012";
const MODULE_DIR = join(SERVICE_DIR, "infra", "modules", "oidc-provider");
const rendered = new Map<string, Promise<BoundaryPolicy>>();

export interface BoundaryPolicy {
  /** The document, parsed. */
  // biome-ignore lint/suspicious/noExplicitAny: an IAM policy document is untyped JSON.
  readonly document: Record<string, any>;
  /** The boundary policy's own ARN, as the parent module creates it. */
  readonly arn: string;
  /** The parent module's variable values the document was rendered with. */
  readonly variables: Readonly<Record<string, unknown>>;
}

/** Renders the boundary with the module's defaults, or with some variables overridden. */
export function renderBoundaryPolicy(
  overrides: Readonly<Record<string, unknown>> = {},
): Promise<BoundaryPolicy> {
  const key = JSON.stringify(overrides);
  let policy = rendered.get(key);
  if (policy === undefined) {
    policy = render(overrides);
    rendered.set(key, policy);
  }
  return policy;
}

async function render(overrides: Readonly<Record<string, unknown>>): Promise<BoundaryPolicy> {
  const { outputs, variables } = await renderModuleCall({
    moduleDir: MODULE_DIR,
    call: "boundary_document",
    overrides,
    references: {
      "${data.aws_partition.current.partition}": "aws",
      "${data.aws_caller_identity.current.account_id}": BOUNDARY_ACCOUNT_ID,
    },
  });
  const arn = `arn:aws:iam::${BOUNDARY_ACCOUNT_ID}:policy${String(variables.boundary_policy_path)}${String(variables.boundary_policy_name)}`;
  return { document: JSON.parse(String(outputs.json)), arn, variables };
}
