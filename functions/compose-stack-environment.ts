/**
 * Wiring of the stack environment (STACK_ENVIRONMENT=true): Spacelift's API with the API key
 * from SSM. Off, nothing of it is loaded. On, the Spacelift client and the key reader are
 * imported on first use, not at cold start.
 */
import { ssmClient } from "./adapters/aws-clients.ts";
import type { Env } from "./core/env.ts";
import { loadReconcilerConfig } from "./core/reconcile/settings.ts";
import { isStackEnvironmentEnabled, type OpenStackEnvironment } from "./core/stack-environment.ts";

/** How long a missing API key is believed before SSM is asked again. */
const MISSING_KEY_RECHECK_MS = 5 * 60_000;

/**
 * The opener, or undefined when STACK_ENVIRONMENT is off. Reads SPACELIFT_API_KEY_PARAMETER
 * and SPACELIFT_API_ENDPOINT like the reconciler (default `https://<SPACELIFT_HOSTNAME>/graphql`).
 * One client per container, once the key was read.
 */
export function composeStackEnvironment(
  env: Env,
  spaceliftHostname: string,
  now: () => number = Date.now,
): OpenStackEnvironment | undefined {
  if (!isStackEnvironmentEnabled(env)) return undefined;
  const { apiKeyParameter, spaceliftEndpoint } = loadReconcilerConfig(env);
  let opened: ReturnType<OpenStackEnvironment> | undefined;
  let missingSince: number | undefined;
  const open: OpenStackEnvironment = async () => {
    if (apiKeyParameter === undefined) {
      return { unavailable: "SPACELIFT_API_KEY_PARAMETER is not set" };
    }
    if (missingSince !== undefined && now() - missingSince < MISSING_KEY_RECHECK_MS) {
      return { unavailable: `the API key parameter ${apiKeyParameter} does not exist` };
    }
    opened ??= (async () => {
      const [{ readSpaceliftApiKey }, { SpaceliftTransport, toGraphqlEndpoint }, adapter] =
        await Promise.all([
          import("./adapters/ssm-api-key.ts"),
          import("./spacelift/transport.ts"),
          import("./spacelift/stack-environment.ts"),
        ]);
      const key = await readSpaceliftApiKey(ssmClient(), apiKeyParameter);
      if (key === undefined) {
        missingSince = now();
        return { unavailable: `the API key parameter ${apiKeyParameter} does not exist` };
      }
      missingSince = undefined;
      return new adapter.SpaceliftStackEnvironment(
        new SpaceliftTransport({
          endpoint: spaceliftEndpoint ?? toGraphqlEndpoint(spaceliftHostname),
          apiKeyId: key.id,
          apiKeySecret: key.secret,
        }),
      );
    })();
    try {
      const environment = await opened;
      // Not cached while missing or after a failure: the next event reads the key again.
      if ("unavailable" in environment) opened = undefined;
      return environment;
    } catch (error) {
      opened = undefined;
      throw error;
    }
  };
  return open;
}
