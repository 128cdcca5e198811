/**
 * Decisions for calls an IAM principal makes (as opposed to evaluate.ts, which asks whether a
 * token may assume a role): identity policies, an optional permissions boundary and an
 * optional resource policy, decided by iam-simulate. AWS's managed policies come from
 * testkit/policy/aws-managed-policies, copied from moto 5.2.1's snapshot of them
 * (ReadOnlyAccess version v182 of 2026-04-03).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createValidatedPolicy, validateResourcePolicy } from "@cloud-copilot/iam-policy";
import { runSimulation, runUnsafeSimulation } from "@cloud-copilot/iam-simulate";
import { SERVICE_DIR } from "./serverless-template.ts";

export type Decision = "allow" | "deny";
// biome-ignore lint/suspicious/noExplicitAny: IAM policy documents are untyped JSON.
export type PolicyDocument = Record<string, any>;

export interface Call {
  readonly action: string;
  readonly resource: string;
  readonly context?: Readonly<Record<string, string | string[]>>;
  /** The resource's own policy (a trust policy for sts:AssumeRole*, a queue policy, …). */
  readonly resourcePolicy?: PolicyDocument;
  /**
   * Evaluate without the validated simulation's context filter, which drops context keys of
   * the form `service:Prefix:<name>` it cannot match to the action (e.g.
   * `kms:EncryptionContext:PARAMETER_ARN`) and so reads every condition on them as missing.
   */
  readonly unfilteredContext?: boolean;
  /**
   * The account the resource is in, when not the principal's: a cross-account call then needs
   * an allow from the principal's policies and from the resource policy.
   */
  readonly resourceAccount?: string;
}

export interface Principal {
  /** A role ARN (the simulator treats it as that role's session). */
  readonly arn: string;
  readonly identityPolicies: Readonly<Record<string, PolicyDocument>>;
  readonly boundary?: PolicyDocument;
  /** Request context every call of this principal carries (aws:PrincipalTag/…). */
  readonly context?: Readonly<Record<string, string | string[]>>;
}

export function awsManagedPolicy(name: "ReadOnlyAccess" | "AdministratorAccess"): PolicyDocument {
  return JSON.parse(
    readFileSync(
      join(SERVICE_DIR, "testkit", "policy", "aws-managed-policies", `${name}.json`),
      "utf8",
    ),
  );
}

/** The request and the principal's policies, as both simulations take them. */
function simulationOf(principal: Principal, call: Call, accountId: string) {
  return {
    request: {
      principal: principal.arn,
      action: call.action,
      resource: { resource: call.resource, accountId: call.resourceAccount ?? accountId },
      contextVariables: {
        "aws:PrincipalArn": principal.arn,
        "aws:PrincipalAccount": accountId,
        ...principal.context,
        ...call.context,
      },
    },
    identityPolicies: Object.entries(principal.identityPolicies).map(([name, policy]) => ({
      name,
      policy,
    })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(principal.boundary !== undefined && {
      permissionBoundaryPolicies: [{ name: "boundary", policy: principal.boundary }],
    }),
  };
}

export async function decideCall(principal: Principal, call: Call): Promise<Decision> {
  const accountId = principal.arn.split(":")[4] ?? "";
  if (call.unfilteredContext === true) return decideUnfiltered(principal, call, accountId);
  const result = await runSimulation(
    {
      ...simulationOf(principal, call, accountId),
      ...(call.resourcePolicy !== undefined && { resourcePolicy: call.resourcePolicy }),
    },
    {},
  );
  if (result.resultType === "error") {
    throw new Error(`simulation refused its input: ${JSON.stringify(result.errors)}`);
  }
  return result.overallResult === "Allowed" ? "allow" : "deny";
}

function decideUnfiltered(principal: Principal, call: Call, accountId: string): Decision {
  const result = runUnsafeSimulation(
    {
      ...simulationOf(principal, call, accountId),
      ...(call.resourcePolicy !== undefined && {
        resourcePolicy: createValidatedPolicy(call.resourcePolicy, validateResourcePolicy, {
          name: "ResourcePolicy",
        }),
      }),
    },
    {},
  );
  return result === "Allowed" ? "allow" : "deny";
}

/** Every call, by name, decided for one principal. */
export async function decideCalls(
  principal: Principal,
  calls: Readonly<Record<string, Call>>,
): Promise<Record<string, Decision>> {
  const decisions: Record<string, Decision> = {};
  for (const [name, call] of Object.entries(calls)) {
    decisions[name] = await decideCall(principal, call);
  }
  return decisions;
}

/** `{ name: expected }` for every call: what a matrix must equal. */
export function expectedFor(
  calls: Readonly<Record<string, unknown>>,
  decision: Decision,
): Record<string, Decision> {
  return Object.fromEntries(Object.keys(calls).map((name) => [name, decision]));
}
