/**
 * Realistic Spacelift audit-trail webhook bodies (shapes from testkit/spacelift/fixtures), signed
 * the way Spacelift signs them. Used by `npm run send`, the tests and the benchmarks.
 */
import { signBody } from "../../functions/core/signature.ts";

export type ResourceAction =
  | "stack.create"
  | "stack.update"
  | "stack.delete"
  | "space.create"
  | "space.update"
  | "space.delete";

export interface EventOptions {
  readonly account: string;
  readonly stack?: string;
  readonly space?: string | null;
  readonly parentSpace?: string;
  readonly labels?: readonly string[];
  readonly timestamp?: number;
  readonly actor?: string;
}

const MUTATIONS: Record<ResourceAction, string> = {
  "stack.create": "stackCreate",
  "stack.update": "stackUpdate",
  "stack.delete": "stackDelete",
  "space.create": "spaceCreate",
  "space.update": "spaceUpdate",
  "space.delete": "spaceDelete",
};

export function auditEvent(action: ResourceAction, options: EventOptions): Record<string, unknown> {
  const stackInput = {
    Administrative: false,
    Autodeploy: false,
    Branch: "main",
    Description: "",
    Labels: options.labels ?? [],
    Name: options.stack,
    Namespace: options.account,
    ProjectRoot: "",
    Provider: "GITHUB",
    Repository: "infrastructure",
    Space: options.space ?? null,
  };
  const spaceInput = {
    Name: options.space?.replace(/-[0-9A-Z]{26}$/, "") ?? "space",
    Description: "",
    InheritEntities: true,
    ParentSpace: options.parentSpace ?? "root",
    Labels: options.labels ?? [],
  };
  const data: Record<ResourceAction, unknown> = {
    "stack.create": {
      ID: options.stack,
      args: { Input: stackInput, ManageState: true, Slug: null },
    },
    "stack.update": { args: { ID: options.stack, Input: stackInput } },
    "stack.delete": { args: { ID: options.stack, DestroyResources: false } },
    "space.create": { ID: options.space, args: { Input: spaceInput } },
    "space.update": { args: { Space: options.space, Input: spaceInput } },
    "space.delete": { args: { Space: options.space } },
  };
  return {
    account: options.account,
    action,
    actor: options.actor ?? "github::jdoe",
    context: { mutation: MUTATIONS[action] },
    data: data[action],
    remoteIP: "203.0.113.10",
    timestamp: options.timestamp ?? Date.now(),
  };
}

export interface SignedDelivery {
  readonly body: string;
  readonly headers: Record<string, string>;
}

/** Signs a body with X-Signature-256 (and the legacy X-Signature header's name, unverified). */
export function signedDelivery(payload: unknown, secret: string): SignedDelivery {
  const body = typeof payload === "string" ? payload : JSON.stringify(payload);
  return {
    body,
    headers: {
      "content-type": "application/json",
      "x-signature-256": signBody(body, secret),
      "user-agent": "Spacelift-Webhooks",
    },
  };
}

export async function postDelivery(
  url: string,
  delivery: SignedDelivery,
): Promise<{ status: number; body: string }> {
  const response = await fetch(url, {
    method: "POST",
    headers: delivery.headers,
    body: delivery.body,
  });
  return { status: response.status, body: await response.text() };
}
