/**
 * The webhook secrets, read through the AWS Parameters and Secrets Lambda Extension (a layer on
 * the receiver in serverless.yml): a GET on a loopback port that the extension answers from its
 * cache or with its own `ssm:GetParameter` under the function's role. The receiver therefore
 * bundles no SSM client in its cold start — about 77 KB and 5 ms less (BENCHMARKS.md §3) — and
 * talks to AWS only through SQS.
 *
 * The extension only answers during an invocation, never while the function initialises
 * (https://docs.aws.amazon.com/systems-manager/latest/userguide/ps-integration-lambda-extensions.html:
 * "can only be called during the INVOKE phase"), so nothing here runs at import: the secrets
 * are read on the first request, then kept for a minute per container. With the extension's
 * own cache (`SSM_PARAMETER_STORE_TTL`, 240 s in serverless.yml) a rotated secret is picked up
 * within five minutes, without a redeploy.
 *
 * The extension has been reported to answer 400 when many functions start at once; a delivery
 * must not be lost to that. Whenever it fails to answer a value (any non-200 other than SSM's
 * ParameterNotFound, a refused or timed-out connection), the secret is read with SSM
 * GetParameter directly, under the same
 * role (which holds ssm:GetParameter on both parameters). The SSM client is loaded by a
 * dynamic import() on that path only, in its own chunk, so the cold start stays as it was.
 */
import { request } from "node:http";
import { MIN_WEBHOOK_SECRET_LENGTH } from "../core/receiver-config.ts";

/** How long a container keeps the secrets it read before asking the extension again. */
export const SECRETS_TTL_MS = 60 * 1000;
const TIMEOUT_MS = 3000;

/** Where the extension listens and the token it requires (the function's session token). */
export interface ParametersExtension {
  readonly port: number;
  readonly token: string;
}

/** Reads one decrypted SecureString value by name, or rejects. */
export type ParameterReader = (name: string) => Promise<string | undefined>;

/** The direct SSM read, loaded on first use (see the top of this file). */
const readWithSsm: ParameterReader = async (name) =>
  (await import("./ssm-secret-reader.ts")).readParameterWithSsm(name);

export function extensionWebhookSecrets(
  extension: ParametersExtension,
  names: { current: string; previous: string | undefined },
  now: () => number = Date.now,
  fallback: ParameterReader = readWithSsm,
): () => Promise<readonly string[]> {
  let cached: { secrets: readonly string[]; until: number } | undefined;
  const read = async (name: string): Promise<string | undefined> => {
    try {
      return await readParameter(extension, name);
    } catch (extensionError) {
      // The extension did answer, and the parameter does not exist: SSM would say the same.
      if (isParameterNotFound(extensionError)) throw extensionError;
      try {
        return await fallback(name);
      } catch (fallbackError) {
        throw new Error(
          `${(extensionError as Error).message}; direct SSM read failed too: ${(fallbackError as Error).message}`,
          { cause: fallbackError },
        );
      }
    }
  };
  return async () => {
    if (cached !== undefined && cached.until > now()) return cached.secrets;
    const current = await read(names.current);
    if (current === undefined || current === "") {
      throw new Error(`webhook secret parameter ${names.current} is empty`);
    }
    // A placeholder is no secret: anyone could sign with it (the environment's rule).
    if (current.length < MIN_WEBHOOK_SECRET_LENGTH) {
      throw new Error(
        `webhook secret parameter ${names.current} holds fewer than ${MIN_WEBHOOK_SECRET_LENGTH} characters; refusing to verify with it`,
      );
    }
    // The previous secret only matters during a rotation; its absence is not an error, and a
    // placeholder kept between rotations ("none") is never accepted.
    const previous =
      names.previous === undefined ? undefined : await read(names.previous).catch(() => undefined);
    const secrets =
      previous !== undefined && previous.length >= MIN_WEBHOOK_SECRET_LENGTH
        ? [current, previous]
        : [current];
    cached = { secrets, until: now() + SECRETS_TTL_MS };
    return secrets;
  };
}

/** The extension's answer for a parameter that does not exist (SSM's ParameterNotFound). */
function isParameterNotFound(error: unknown): boolean {
  return (
    error instanceof Error &&
    /^parameters extension answered 400 .*ParameterNotFound/.test(error.message)
  );
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
