/**
 * Spacelift's GraphQL API as a {@link SpaceliftDirectory}: the reconciler's view of which
 * stacks and spaces exist.
 *
 * The endpoint is `https://<account>.app.spacelift.io/graphql` (see {@link toGraphqlEndpoint}).
 * An API key (id + secret) is exchanged for a JWT with the `apiKeyUser` mutation; the JWT is
 * sent as `Authorization: Bearer <jwt>` and replaced before its `validUntil`.
 */

import * as z from "zod/mini";
import type {
  AuditTrailEntry,
  SpaceliftAuditTrail,
  SpaceliftDirectory,
  SpaceliftSpace,
  SpaceliftStack,
} from "../core/ports.ts";
import "../core/zod-locale.ts";
import { SpaceliftApiError } from "../core/errors.ts";

export interface SpaceliftGraphqlClientOptions {
  /** `https://<hostname>/graphql`. */
  readonly endpoint: string;
  readonly apiKeyId: string;
  readonly apiKeySecret: string;
  readonly fetch?: typeof fetch;
  /** Milliseconds since the epoch, like `Date.now`. */
  readonly now?: () => number;
  /** Stacks asked for per `searchStacks` page. Default 50. */
  readonly pageSize?: number;
  /**
   * Retries of one request on HTTP 429, 5xx, a network failure, or a GraphQL `errors` array
   * that says throttling or a temporary failure. Default 5.
   */
  readonly maxRetries?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** `https://<hostname>/graphql` for a Spacelift account hostname such as `acme.app.spacelift.io`. */
export function toGraphqlEndpoint(hostname: string): string {
  if (!/^[a-z0-9.-]+(:\d+)?$/i.test(hostname)) {
    throw new TypeError(`expected a bare Spacelift hostname such as acme.app.spacelift.io`);
  }
  return `https://${hostname}/graphql`;
}

const DEFAULT_PAGE_SIZE = 50;
const DEFAULT_MAX_RETRIES = 5;
/**
 * Exchange the key this long before the JWT's `validUntil`, so that no request races its expiry.
 * Spacelift has been seen answering an expired token as an anonymous caller, with empty lists
 * rather than an error (spacelift-io/spacectl#79): refreshing early is what guards against that.
 */
const TOKEN_REFRESH_MARGIN_MS = 60_000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** A `Retry-After` above this is cut down to it: a reconciler run should not park for hours. */
const RETRY_AFTER_MAX_MS = 120_000;

const API_KEY_USER = `mutation ApiKeyUser($id: ID!, $secret: String!) {
  apiKeyUser(id: $id, secret: $secret) { jwt validUntil }
}`;

const SEARCH_STACKS = `query SearchStacks($input: SearchInput!) {
  searchStacks(input: $input) {
    edges { cursor node { id space labels } }
    pageInfo { endCursor hasNextPage }
  }
}`;

/**
 * Spacelift has no paginated query for spaces: its own clients read `spaces` whole (the
 * Terraform provider's data_spaces.go, spacectl's space listing). Accounts hold far fewer
 * spaces than stacks, so one request is the API's own way to list them.
 */
const SPACES = `query Spaces {
  spaces { id name parentSpace labels }
}`;

/**
 * Audit-trail entries, newest first: the input spacectl's `audit-trail list` sends (SearchInput
 * with `orderBy: {field: "createdAt", direction: "DESC"}`, `first`, `after`) and the fields it
 * reads (internal/cmd/audittrail/list.go). `createdAt` is in seconds since the epoch.
 */
const SEARCH_AUDIT_TRAIL_ENTRIES = `query SearchAuditTrailEntries($input: SearchInput!) {
  searchAuditTrailEntries(input: $input) {
    edges { cursor node { id action createdAt affectedResource { resourceType resourceId } } }
    pageInfo { endCursor hasNextPage }
  }
}`;

/** One stack; `stack` is null when there is no such stack (as spacectl reads it). */
const STACK = `query Stack($id: ID!) {
  stack(id: $id) { id space labels }
}`;

/** One space; `space` is null when there is no such space (as spacectl reads it). */
const SPACE = `query Space($id: ID!) {
  space(id: $id) { id name parentSpace labels }
}`;

const labelsSchema = z.pipe(
  z.nullish(z.array(z.string())),
  z.transform((labels: string[] | null | undefined) => labels ?? []),
);

const apiKeyUserSchema = z.object({
  apiKeyUser: z.nullable(
    z.object({
      jwt: z.string().check(z.minLength(1)),
      validUntil: z.number().check(z.int(), z.positive()),
    }),
  ),
});

const searchStacksSchema = z.object({
  searchStacks: z.object({
    edges: z.array(
      z.object({
        cursor: z.nullish(z.string()),
        node: z.object({
          id: z.string().check(z.minLength(1)),
          space: z.string().check(z.minLength(1)),
          labels: labelsSchema,
        }),
      }),
    ),
    pageInfo: z.object({ endCursor: z.nullish(z.string()), hasNextPage: z.boolean() }),
  }),
});

type StackPage = z.infer<typeof searchStacksSchema>;

function spaceNodeSchema() {
  return z.object({
    id: z.string().check(z.minLength(1)),
    name: z.string(),
    parentSpace: z.pipe(
      z.nullish(z.string()),
      z.transform((parent: string | null | undefined) => parent ?? null),
    ),
    labels: labelsSchema,
  });
}

const spacesSchema = z.object({ spaces: z.array(spaceNodeSchema()) });

const auditTrailSchema = z.object({
  searchAuditTrailEntries: z.object({
    edges: z.array(
      z.object({
        cursor: z.nullish(z.string()),
        node: z.object({
          id: z.string(),
          action: z.string(),
          createdAt: z.number(),
          affectedResource: z.object({
            resourceType: z.string(),
            resourceId: z.pipe(
              z.nullish(z.string()),
              z.transform((id: string | null | undefined) => id ?? null),
            ),
          }),
        }),
      }),
    ),
    pageInfo: z.object({ endCursor: z.nullish(z.string()), hasNextPage: z.boolean() }),
  }),
});

type AuditTrailPage = z.infer<typeof auditTrailSchema>;

const stackSchema = z.object({
  stack: z.nullable(
    z.object({
      id: z.string().check(z.minLength(1)),
      space: z.string().check(z.minLength(1)),
      labels: labelsSchema,
    }),
  ),
});

const spaceSchema = z.object({ space: z.nullable(spaceNodeSchema()) });

const envelopeSchema = z.object({
  data: z.optional(z.unknown()),
  errors: z.nullish(
    z.array(
      z.looseObject({
        message: z.string(),
        extensions: z.nullish(z.looseObject({ code: z.optional(z.unknown()) })),
      }),
    ),
  ),
});

/** Spacelift reports a missing, invalid or expired bearer token as a GraphQL error or a 401. */
const AUTH_ERROR = /unauthori[sz]ed|unauthenticated|expired|invalid token|forbidden/i;
/**
 * A GraphQL error a later attempt may not meet: throttling or a temporary server failure,
 * answered with HTTP 200 and an `errors` array instead of a 429/5xx. Spacelift does not
 * publish the wording, so both the conventional `extensions.code` values and the usual
 * message phrasings are read. Anything else in `errors` (a validation error, a missing
 * field, a refused key) is final and thrown at once: retrying it would only repeat it.
 */
const TRANSIENT_ERROR =
  /rate.?limit|too many requests|throttl|temporar(il)?y unavailable|try again later|timed? ?out|service unavailable/i;
const TRANSIENT_CODES = new Set([
  "RATE_LIMITED",
  "RATE_LIMIT_EXCEEDED",
  "TOO_MANY_REQUESTS",
  "THROTTLED",
  "SERVICE_UNAVAILABLE",
  "UNAVAILABLE",
  "TIMEOUT",
]);

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

export class SpaceliftGraphqlClient implements SpaceliftDirectory, SpaceliftAuditTrail {
  readonly #endpoint: string;
  readonly #apiKeyId: string;
  // Private fields: neither `util.inspect` nor `JSON.stringify` of the client shows them.
  readonly #apiKeySecret: string;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #pageSize: number;
  readonly #maxRetries: number;
  readonly #sleep: (ms: number) => Promise<void>;
  #token: Token | undefined;
  #pendingToken: Promise<Token> | undefined;

  constructor(options: SpaceliftGraphqlClientOptions) {
    this.#endpoint = options.endpoint;
    this.#apiKeyId = options.apiKeyId;
    this.#apiKeySecret = options.apiKeySecret;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#now = options.now ?? Date.now;
    this.#pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    this.#maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    if (this.#apiKeyId === "" || this.#apiKeySecret === "") {
      throw new TypeError("apiKeyId and apiKeySecret must not be empty");
    }
    if (!Number.isInteger(this.#pageSize) || this.#pageSize < 1) {
      throw new RangeError("pageSize must be a positive integer");
    }
    if (!Number.isInteger(this.#maxRetries) || this.#maxRetries < 0) {
      throw new RangeError("maxRetries must be a non-negative integer");
    }
  }

  /** A client for `https://<hostname>/graphql`. */
  static fromHostname(
    hostname: string,
    apiKeyId: string,
    apiKeySecret: string,
    options: Omit<SpaceliftGraphqlClientOptions, "endpoint" | "apiKeyId" | "apiKeySecret"> = {},
  ): SpaceliftGraphqlClient {
    return new SpaceliftGraphqlClient({
      ...options,
      endpoint: toGraphqlEndpoint(hostname),
      apiKeyId,
      apiKeySecret,
    });
  }

  async listStacks(): Promise<readonly SpaceliftStack[]> {
    // Keyed by id: a stack that moves between pages while we read shows up once.
    const stacks = new Map<string, SpaceliftStack>();
    let after: string | null = null;
    for (;;) {
      const variables = { input: { first: this.#pageSize, after } };
      const page: StackPage = await this.#query(
        "SearchStacks",
        SEARCH_STACKS,
        searchStacksSchema,
        variables,
      );
      const { searchStacks } = page;
      for (const { node } of searchStacks.edges) {
        stacks.set(node.id, { id: node.id, space: node.space, labels: node.labels });
      }
      if (!searchStacks.pageInfo.hasNextPage) return [...stacks.values()];
      const next: string | null =
        searchStacks.pageInfo.endCursor ?? searchStacks.edges.at(-1)?.cursor ?? null;
      if (next === null || next === after) {
        throw new SpaceliftApiError("hasNextPage is true but the cursor does not advance", {
          operation: "SearchStacks",
        });
      }
      after = next;
    }
  }

  async listSpaces(): Promise<readonly SpaceliftSpace[]> {
    const { spaces } = await this.#query("Spaces", SPACES, spacesSchema, {});
    return spaces.map(({ id, name, parentSpace, labels }) => ({ id, name, parentSpace, labels }));
  }

  /**
   * Every audit-trail entry created at or after `since` (ms), oldest first. Pages newest first
   * and stops at the first page that reaches back before `since`; any page failing fails the
   * whole listing.
   */
  async entriesSince(since: number): Promise<readonly AuditTrailEntry[]> {
    // Keyed by id: an entry that shifts between pages while we read shows up once.
    const entries = new Map<string, AuditTrailEntry>();
    let after: string | null = null;
    for (;;) {
      const variables = {
        input: {
          first: this.#pageSize,
          after,
          orderBy: { field: "createdAt", direction: "DESC" },
        },
      };
      const page: AuditTrailPage = await this.#query(
        "SearchAuditTrailEntries",
        SEARCH_AUDIT_TRAIL_ENTRIES,
        auditTrailSchema,
        variables,
      );
      const { edges, pageInfo } = page.searchAuditTrailEntries;
      let reachedSince = false;
      for (const { node } of edges) {
        const createdAt = node.createdAt * 1000;
        if (createdAt < since) {
          reachedSince = true;
          continue;
        }
        entries.set(node.id, {
          id: node.id,
          action: node.action,
          resourceType: node.affectedResource.resourceType,
          resourceId: node.affectedResource.resourceId,
          createdAt,
        });
      }
      if (reachedSince || !pageInfo.hasNextPage) {
        return [...entries.values()].sort((a, b) => a.createdAt - b.createdAt);
      }
      const next: string | null = pageInfo.endCursor ?? edges.at(-1)?.cursor ?? null;
      if (next === null || next === after) {
        throw new SpaceliftApiError("hasNextPage is true but the cursor does not advance", {
          operation: "SearchAuditTrailEntries",
        });
      }
      after = next;
    }
  }

  async stack(id: string): Promise<SpaceliftStack | undefined> {
    const { stack } = await this.#query("Stack", STACK, stackSchema, { id });
    return stack === null ? undefined : { id: stack.id, space: stack.space, labels: stack.labels };
  }

  async space(id: string): Promise<SpaceliftSpace | undefined> {
    const { space } = await this.#query("Space", SPACE, spaceSchema, { id });
    if (space === null) return undefined;
    return { id: space.id, name: space.name, parentSpace: space.parentSpace, labels: space.labels };
  }

  /**
   * Any other authenticated operation (the stack environment's adapter uses it): `schema`
   * validates `data`; errors are {@link SpaceliftApiError}s like every other call's.
   */
  request<T>(
    operation: string,
    query: string,
    schema: z.ZodMiniType<T>,
    variables: Record<string, unknown>,
  ): Promise<T> {
    return this.#query(operation, query, schema, variables);
  }

  /** Runs an authenticated query; on an auth failure, exchanges the key again and retries once. */
  async #query<T>(
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
        response = await this.#fetch(this.#endpoint, { method: "POST", headers, body });
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
    } catch (cause) {
      if (status === 401 && jwt !== undefined) {
        return {
          kind: "unauthorized",
          error: new SpaceliftApiError("HTTP 401", { operation, status }),
        };
      }
      throw new SpaceliftApiError(`HTTP ${status} with a body that is not JSON`, {
        operation,
        status,
        cause,
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
    const unauthorized = status === 401 || messages.some((message) => AUTH_ERROR.test(message));
    // Only a bearer token can go stale; a rejected API key is final.
    if (unauthorized && jwt !== undefined) return { kind: "unauthorized", error };
    const transient =
      !unauthorized &&
      errors.length > 0 &&
      errors.every(
        ({ message, extensions }) =>
          TRANSIENT_ERROR.test(message) ||
          (typeof extensions?.code === "string" && TRANSIENT_CODES.has(extensions.code)),
      );
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

/** 500 ms, 1 s, 2 s, … capped at 30 s. */
function backoffDelay(retry: number): number {
  return Math.min(BACKOFF_BASE_MS * 2 ** retry, BACKOFF_MAX_MS);
}

/** `Retry-After` as delta-seconds or an HTTP date, in ms; undefined when absent or unreadable. */
function retryAfterDelay(header: string | null, now: number): number | undefined {
  if (header === null || header.trim() === "") return undefined;
  const value = header.trim();
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(ms, 0), RETRY_AFTER_MAX_MS);
}
