/**
 * One authenticated GraphQL request to Spacelift's API, and everything it takes: the API key
 * (id + secret) exchanged for a JWT with the `apiKeyUser` mutation, sent as
 * `Authorization: Bearer <jwt>` and replaced before its `validUntil`; retries with backoff on
 * HTTP 429, 5xx, network failures and GraphQL errors that say throttling (honouring
 * `Retry-After`, backoff instead for one that is not in the future); one new exchange when the
 * token is refused; never a redirect followed (the key goes only to the endpoint). The endpoint is
 * `https://<account>.app.spacelift.io/graphql` (see {@link toGraphqlEndpoint}).
 */

import * as z from "zod/mini";
import "../core/zod-locale.ts";
import { SpaceliftApiError } from "../core/errors.ts";
import {
  backoffDelay,
  classifyGraphqlErrors,
  envelopeSchema,
  retryAfterDelay,
} from "./retry-policy.ts";

export interface SpaceliftTransportOptions {
  /** `https://<hostname>/graphql`. */
  readonly endpoint: string;
  readonly apiKeyId: string;
  readonly apiKeySecret: string;
  readonly fetch?: typeof fetch;
  /** Milliseconds since the epoch, like `Date.now`. */
  readonly now?: () => number;
  /**
   * Retries of one request on HTTP 429, 5xx, a network failure, or a GraphQL `errors` array
   * that says throttling or a temporary failure. Default 5.
   */
  readonly maxRetries?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Runs one authenticated GraphQL operation; `schema` validates its `data`. */
export interface SpaceliftGraphqlRequester {
  request<T>(
    operation: string,
    query: string,
    schema: z.ZodMiniType<T>,
    variables: Record<string, unknown>,
  ): Promise<T>;
}

/** `https://<hostname>/graphql` for a Spacelift account hostname such as `acme.app.spacelift.io`. */
export function toGraphqlEndpoint(hostname: string): string {
  if (!/^[a-z0-9.-]+(:\d+)?$/i.test(hostname)) {
    throw new TypeError(`expected a bare Spacelift hostname such as acme.app.spacelift.io`);
  }
  return `https://${hostname}/graphql`;
}

const DEFAULT_MAX_RETRIES = 5;
/**
 * Exchange the key this long before the JWT's `validUntil`, so that no request races its expiry.
 * Spacelift has been seen answering an expired token as an anonymous caller, with empty lists
 * rather than an error (spacelift-io/spacectl#79): refreshing early is what guards against that.
 */
const TOKEN_REFRESH_MARGIN_MS = 60_000;

const API_KEY_USER = `mutation ApiKeyUser($id: ID!, $secret: String!) {
  apiKeyUser(id: $id, secret: $secret) { jwt validUntil }
}`;

const apiKeyUserSchema = z.object({
  apiKeyUser: z.nullable(
    z.object({
      jwt: z.string().check(z.minLength(1)),
      validUntil: z.number().check(z.int(), z.positive()),
    }),
  ),
});

interface Token {
  readonly jwt: string;
  /** Milliseconds since the epoch. */
  readonly validUntil: number;
}

type Attempt =
  | { readonly kind: "data"; readonly data: unknown }
  | { readonly kind: "unauthorized"; readonly error: SpaceliftApiError };

/** What one HTTP exchange gave: an {@link Attempt}, or a throttling/temporary GraphQL error. */
type Exchange = Attempt | { readonly kind: "transient"; readonly error: SpaceliftApiError };

export class SpaceliftTransport implements SpaceliftGraphqlRequester {
  readonly #endpoint: string;
  readonly #apiKeyId: string;
  // Private fields: neither `util.inspect` nor `JSON.stringify` of the transport shows them.
  readonly #apiKeySecret: string;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #maxRetries: number;
  readonly #sleep: (ms: number) => Promise<void>;
  #token: Token | undefined;
  #pendingToken: Promise<Token> | undefined;

  constructor(options: SpaceliftTransportOptions) {
    this.#endpoint = options.endpoint;
    this.#apiKeyId = options.apiKeyId;
    this.#apiKeySecret = options.apiKeySecret;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#now = options.now ?? Date.now;
    this.#maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    if (this.#apiKeyId === "" || this.#apiKeySecret === "") {
      throw new TypeError("apiKeyId and apiKeySecret must not be empty");
    }
    if (!Number.isInteger(this.#maxRetries) || this.#maxRetries < 0) {
      throw new RangeError("maxRetries must be a non-negative integer");
    }
  }

  /**
   * Runs an authenticated operation; on an auth failure, exchanges the key again and retries
   * once. `schema` validates `data`; every failure is a {@link SpaceliftApiError}.
   */
  async request<T>(
    operation: string,
    query: string,
    schema: z.ZodMiniType<T>,
    variables: Record<string, unknown>,
  ): Promise<T> {
    let token = await this.#validToken();
    let attempt = await this.#send(operation, query, variables, token.jwt);
    if (attempt.kind === "unauthorized") {
      this.#forget(token);
      token = await this.#validToken();
      attempt = await this.#send(operation, query, variables, token.jwt);
      if (attempt.kind === "unauthorized") throw attempt.error;
    }
    return this.#parse(operation, schema, attempt.data);
  }

  async #validToken(): Promise<Token> {
    const token = this.#token;
    if (token !== undefined && this.#now() + TOKEN_REFRESH_MARGIN_MS < token.validUntil) {
      return token;
    }
    // Concurrent callers (listStacks and listSpaces in parallel) share one exchange.
    this.#pendingToken ??= this.#exchangeApiKey().finally(() => {
      this.#pendingToken = undefined;
    });
    return this.#pendingToken;
  }

  #forget(token: Token): void {
    if (this.#token === token) this.#token = undefined;
  }

  async #exchangeApiKey(): Promise<Token> {
    const operation = "ApiKeyUser";
    const attempt = await this.#send(
      operation,
      API_KEY_USER,
      { id: this.#apiKeyId, secret: this.#apiKeySecret },
      undefined,
    );
    if (attempt.kind === "unauthorized") throw attempt.error;
    const { apiKeyUser } = this.#parse(operation, apiKeyUserSchema, attempt.data);
    if (apiKeyUser === null) {
      throw new SpaceliftApiError(`API key ${this.#apiKeyId} was not accepted`, { operation });
    }
    const token = { jwt: apiKeyUser.jwt, validUntil: apiKeyUser.validUntil * 1000 };
    this.#token = token;
    return token;
  }

  /** One GraphQL request, retried on 429, 5xx, network failures and transient GraphQL errors. */
  async #send(
    operation: string,
    query: string,
    variables: Record<string, unknown>,
    jwt: string | undefined,
  ): Promise<Attempt> {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/json",
    };
    if (jwt !== undefined) headers.authorization = `Bearer ${jwt}`;
    const body = JSON.stringify({ operationName: operation, query, variables });

    for (let retry = 0; ; retry++) {
      let response: Response;
      try {
        // Never follow a redirect: fetch would re-send a 307/308's body (the API key exchange's
        // carries the secret) to wherever it points, http:// or another host included.
        response = await this.#fetch(this.#endpoint, {
          method: "POST",
          headers,
          body,
          redirect: "manual",
        });
      } catch (cause) {
        if (retry < this.#maxRetries) {
          await this.#sleep(backoffDelay(retry));
          continue;
        }
        throw new SpaceliftApiError(`request failed after ${retry + 1} attempts`, {
          operation,
          cause,
        });
      }

      if (response.status >= 300 && response.status < 400) {
        await response.body?.cancel();
        throw new SpaceliftApiError(
          `HTTP ${response.status}: a redirect, not followed (the API key goes only to the configured endpoint)`,
          { operation, status: response.status },
        );
      }
      if (response.status === 429 || response.status >= 500) {
        await response.body?.cancel();
        if (retry < this.#maxRetries) {
          await this.#sleep(
            retryAfterDelay(response.headers.get("retry-after"), this.#now()) ??
              backoffDelay(retry),
          );
          continue;
        }
        throw new SpaceliftApiError(
          `HTTP ${response.status}, still failing after ${retry + 1} attempts`,
          { operation, status: response.status },
        );
      }

      const exchange = await this.#read(operation, response, jwt);
      if (exchange.kind !== "transient") return exchange;
      if (retry < this.#maxRetries) {
        await this.#sleep(
          retryAfterDelay(response.headers.get("retry-after"), this.#now()) ?? backoffDelay(retry),
        );
        continue;
      }
      const { graphqlErrors } = exchange.error;
      throw new SpaceliftApiError(
        `${graphqlErrors.join("; ")}, still failing after ${retry + 1} attempts`,
        { operation, status: response.status, graphqlErrors },
      );
    }
  }

  async #read(operation: string, response: Response, jwt: string | undefined): Promise<Exchange> {
    const status = response.status;
    let json: unknown;
    try {
      json = await response.json();
    } catch {
      if (status === 401 && jwt !== undefined) {
        return {
          kind: "unauthorized",
          error: new SpaceliftApiError("HTTP 401", { operation, status }),
        };
      }
      // Not the parser's error as cause: its message quotes the body, which may echo the secret.
      throw new SpaceliftApiError(`HTTP ${status} with a body that is not JSON`, {
        operation,
        status,
      });
    }
    const envelope = envelopeSchema.safeParse(json);
    if (!envelope.success) {
      throw new SpaceliftApiError(`HTTP ${status} with a body that is not a GraphQL response`, {
        operation,
        status,
        cause: envelope.error,
      });
    }

    const errors = envelope.data.errors ?? [];
    const messages = errors.map(({ message }) => this.#redact(message, jwt));
    const described = messages.length > 0 ? messages.join("; ") : `HTTP ${status}`;
    const error = new SpaceliftApiError(described, { operation, status, graphqlErrors: messages });
    const { unauthorized, transient } = classifyGraphqlErrors(status, messages, errors);
    // Only a bearer token can go stale; a rejected API key is final.
    if (unauthorized && jwt !== undefined) return { kind: "unauthorized", error };
    if (transient) return { kind: "transient", error };
    if (messages.length > 0 || status < 200 || status >= 300) throw error;
    return { kind: "data", data: envelope.data.data };
  }

  #parse<T>(operation: string, schema: z.ZodMiniType<T>, data: unknown): T {
    const parsed = schema.safeParse(data);
    if (!parsed.success) {
      throw new SpaceliftApiError(
        `unexpected response shape: ${z.prettifyError(parsed.error).replaceAll("\n", " ")}`,
        { operation, cause: parsed.error },
      );
    }
    return parsed.data;
  }

  /** Server messages may echo what we sent; never let the secret or a JWT out in an error. */
  #redact(message: string, jwt: string | undefined): string {
    let redacted = message.replaceAll(this.#apiKeySecret, "[redacted]");
    if (jwt !== undefined) redacted = redacted.replaceAll(jwt, "[redacted]");
    if (this.#token !== undefined) redacted = redacted.replaceAll(this.#token.jwt, "[redacted]");
    return redacted;
  }
}
