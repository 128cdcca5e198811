/**
 * The webhook secrets from SecureString parameters, cached for a few minutes per container so
 * a rotation is picked up without a redeploy and without a parameter read per request.
 */
import { GetParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";

const TTL_MS = 5 * 60 * 1000;

export function ssmWebhookSecrets(
  ssm: SSMClient,
  names: { current: string; previous: string | undefined },
  now: () => number = Date.now,
): () => Promise<readonly string[]> {
  let cached: { secrets: readonly string[]; until: number } | undefined;
  return async () => {
    if (cached !== undefined && cached.until > now()) return cached.secrets;
    const read = async (name: string) =>
      (await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }))).Parameter
        ?.Value;
    const current = await read(names.current);
    if (current === undefined || current === "") {
      throw new Error(`webhook secret parameter ${names.current} is empty`);
    }
    const previous =
      names.previous === undefined ? undefined : await read(names.previous).catch(() => undefined);
    const secrets = previous ? [current, previous] : [current];
    cached = { secrets, until: now() + TTL_MS };
    return secrets;
  };
}
