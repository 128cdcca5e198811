/**
 * The webhook secrets, read through the AWS Parameters and Secrets Lambda Extension (a layer on
 * the receiver in serverless.yml): a GET on a loopback port that the extension answers from its
 * cache or with its own `ssm:GetParameter` under the function's role. The receiver therefore
 * bundles no SSM client — about 77 KB and 5 ms less at every cold start (BENCHMARKS.md §3) — and
 * talks to AWS only through SQS.
 *
 * The extension only answers during an invocation, never while the function initialises, so the
 * secrets are read on the first request, then kept for a minute per container; with the
 * extension's own cache (`SSM_PARAMETER_STORE_TTL`, 240 s in serverless.yml) a rotated secret
 * is picked up within five minutes, without a redeploy.
 */
import { request } from "node:http";

/** How long a container keeps the secrets it read before asking the extension again. */
export const SECRETS_TTL_MS = 60 * 1000;
const TIMEOUT_MS = 3000;

/** Where the extension listens and the token it requires (the function's session token). */
export interface ParametersExtension {
  readonly port: number;
  readonly token: string;
}

export function extensionWebhookSecrets(
  extension: ParametersExtension,
  names: { current: string; previous: string | undefined },
  now: () => number = Date.now,
): () => Promise<readonly string[]> {
  let cached: { secrets: readonly string[]; until: number } | undefined;
  return async () => {
    if (cached !== undefined && cached.until > now()) return cached.secrets;
    const current = await readParameter(extension, names.current);
    if (current === undefined || current === "") {
      throw new Error(`webhook secret parameter ${names.current} is empty`);
    }
    // The previous secret only matters during a rotation; its absence is not an error.
    const previous =
      names.previous === undefined
        ? undefined
        : await readParameter(extension, names.previous).catch(() => undefined);
    const secrets = previous ? [current, previous] : [current];
    cached = { secrets, until: now() + SECRETS_TTL_MS };
    return secrets;
  };
}

/**
 * One decrypted parameter value, as `GET /systemsmanager/parameters/get` answers it: the JSON of
 * SSM's GetParameter response. Errors name the parameter and the status, never a value.
 */
export function readParameter(
  extension: ParametersExtension,
  name: string,
): Promise<string | undefined> {
  const path = `/systemsmanager/parameters/get?name=${encodeURIComponent(name)}&withDecryption=true`;
  return new Promise((resolve, reject) => {
    const call = request(
      {
        host: "127.0.0.1",
        port: extension.port,
        path,
        method: "GET",
        headers: { "X-Aws-Parameters-Secrets-Token": extension.token },
        timeout: TIMEOUT_MS,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", reject);
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if (response.statusCode !== 200) {
            reject(
              new Error(
                `parameters extension answered ${response.statusCode} for ${name}: ${text.slice(0, 200)}`,
              ),
            );
            return;
          }
          try {
            const value = (JSON.parse(text) as { Parameter?: { Value?: unknown } }).Parameter
              ?.Value;
            resolve(typeof value === "string" ? value : undefined);
          } catch {
            reject(new Error(`parameters extension sent a body that is not JSON for ${name}`));
          }
        });
      },
    );
    call.on("timeout", () =>
      call.destroy(new Error(`parameters extension did not answer within ${TIMEOUT_MS} ms`)),
    );
    call.on("error", reject);
    call.end();
  });
}
