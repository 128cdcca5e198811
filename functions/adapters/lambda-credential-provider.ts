/**
 * The AWS credential chain of the Lambda bundles. serverless.yml's `custom.esbuild.alias` puts
 * this module in place of `@aws-sdk/credential-provider-node`, so it is the
 * `credentialDefaultProvider` of every SDK client in a deployed function. Unbundled (tsx, the
 * tests, the CLI scripts) the clients keep the SDK's full default chain.
 *
 * Lambda gives a function its execution role's credentials in AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; where it serves them from a container
 * credentials endpoint instead (AWS_CONTAINER_CREDENTIALS_FULL_URI, as with SnapStart), that
 * is the fallback, tried in the same order as the default chain. The default chain's other
 * sources (shared config and credentials files, SSO, credential_process, web identity token
 * files, EC2 instance metadata) never apply in Lambda, and bundling them, with the STS, SSO
 * and sign-in clients they use, cost about 125 KB and 8 ms of every cold start.
 */
import { fromEnv } from "@aws-sdk/credential-provider-env";
import { fromHttp } from "@aws-sdk/credential-provider-http";

type ProviderInit = NonNullable<Parameters<typeof fromHttp>[0]>;
type CredentialProvider = ReturnType<typeof fromEnv>;

/** Same name and call shape as `@aws-sdk/credential-provider-node`'s `defaultProvider`. */
export function defaultProvider(init: ProviderInit = {}): CredentialProvider {
  const environment = fromEnv(init);
  let container: CredentialProvider | undefined;
  return async (properties) => {
    const env = process.env;
    if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) return environment(properties);
    if (env.AWS_CONTAINER_CREDENTIALS_FULL_URI || env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) {
      // Created on first use: fromHttp refuses to be created without one of these variables.
      container ??= fromHttp(init);
      return container(properties);
    }
    throw new Error(
      "no AWS credentials: this Lambda bundle reads them from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (set by Lambda) or a container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI/RELATIVE_URI); profiles, SSO and instance metadata are not bundled",
    );
  };
}
