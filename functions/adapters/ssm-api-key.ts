/**
 * The Spacelift API key, read from a SecureString parameter whose value is
 * `{"id": "<API key ID>", "secret": "<API key secret>"}`, and the Spacelift client built on it.
 * A missing parameter is an answer (the reconciler then runs without Spacelift), not an error.
 */
import { GetParameterCommand, ParameterNotFound, type SSMClient } from "@aws-sdk/client-ssm";
import * as z from "zod/mini";
import { AwsCallError, ConfigurationError } from "../core/errors.ts";
import type { SpaceliftAccess } from "../core/reconcile/spacelift-listing.ts";
import { SpaceliftGraphqlClient } from "../spacelift/graphql-client.ts";
import { SpaceliftStackEnvironment } from "../spacelift/stack-environment.ts";
import "../core/zod-locale.ts";

export interface SpaceliftApiKey {
  readonly id: string;
  readonly secret: string;
}

const ApiKey = z.object({
  id: z.string().check(z.minLength(1)),
  secret: z.string().check(z.minLength(1)),
});

/** The key, or undefined when the parameter does not exist. The secret is never put in an error. */
export async function readSpaceliftApiKey(
  ssm: SSMClient,
  name: string,
): Promise<SpaceliftApiKey | undefined> {
  let value: string | undefined;
  try {
    const answer = await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
    value = answer.Parameter?.Value;
  } catch (error) {
    if (error instanceof ParameterNotFound) return undefined;
    throw new AwsCallError(`SSM GetParameter failed for ${name}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value ?? "");
  } catch {
    parsed = undefined;
  }
  const key = ApiKey.safeParse(parsed);
  if (!key.success) {
    throw new ConfigurationError(
      `parameter ${name} must hold {"id": "<API key ID>", "secret": "<API key secret>"}`,
    );
  }
  return key.data;
}

/**
 * Opens Spacelift for one reconciler run: reads the key (so a rotation is picked up on the next
 * run) and returns a client of `endpoint`, or why Spacelift cannot be used.
 */
export function ssmSpaceliftAccess(
  ssm: SSMClient,
  options: {
    parameterName: string | undefined;
    endpoint: string;
    /** STACK_ENVIRONMENT=true: the stacks' variables are converged too. */
    stackEnvironment?: boolean;
  },
): () => Promise<SpaceliftAccess> {
  return async () => {
    const { parameterName, endpoint } = options;
    if (parameterName === undefined) {
      return { available: false, reason: "SPACELIFT_API_KEY_PARAMETER is not set" };
    }
    const key = await readSpaceliftApiKey(ssm, parameterName);
    if (key === undefined) {
      return { available: false, reason: `the API key parameter ${parameterName} does not exist` };
    }
    const client = new SpaceliftGraphqlClient({
      endpoint,
      apiKeyId: key.id,
      apiKeySecret: key.secret,
    });
    return {
      available: true,
      directory: client,
      ...(options.stackEnvironment === true && {
        environment: new SpaceliftStackEnvironment(client),
      }),
    };
  };
}
