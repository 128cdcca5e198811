/**
 * The receiver's fallback for its webhook secrets: a direct SSM GetParameter (WithDecryption),
 * used only when the Parameters and Secrets extension fails to answer. This module is reached
 * only through a dynamic import() (parameters-extension-secrets.ts), so esbuild's code
 * splitting keeps the SSM client in a chunk of its own, loaded on that path alone: the
 * receiver's cold start does not pay for it.
 */
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { AWS_CLIENT_SETTINGS } from "./aws-client-settings.ts";

let ssm: SSMClient | undefined;

/** Reads one decrypted parameter value with `client`; errors name the parameter, never a value. */
export function ssmParameterReader(client: SSMClient): (name: string) => Promise<string> {
  return async (name) => {
    let value: string | undefined;
    try {
      const answer = await client.send(
        new GetParameterCommand({ Name: name, WithDecryption: true }),
      );
      value = answer.Parameter?.Value;
    } catch (error) {
      throw new Error(
        `SSM GetParameter failed for ${name}: ${(error as Error).name}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    if (value === undefined) throw new Error(`SSM GetParameter returned no value for ${name}`);
    return value;
  };
}

/** The same, with one client per container, created on first use. */
export function readParameterWithSsm(name: string): Promise<string> {
  ssm ??= new SSMClient(AWS_CLIENT_SETTINGS);
  return ssmParameterReader(ssm)(name);
}
