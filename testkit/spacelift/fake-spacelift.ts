/**
 * A local stand-in for Spacelift's GraphQL API, over real HTTP on 127.0.0.1.
 *
 * It answers the three operations this project uses, recognised by their root field:
 * - `apiKeyUser(id, secret) { jwt validUntil }`: issues a JWT-shaped bearer token;
 * - `searchStacks(input: { first, after }) { edges { cursor node } pageInfo }`: stacks
 *   ordered by id, paginated with opaque cursors (`predicates` are ignored);
 * - `spaces { id name parentSpace labels }`;
 * - `space(id: ID!) { id name parentSpace labels }`: null when there is no such space;
 * - `stack(id: ID!)` also answers `space` and `labels` (spacectl reads one stack this way);
 * - `searchAuditTrailEntries(input: { first, after, orderBy })`: the entries of
 *   {@link FakeSpaceliftState.auditTrail}, ordered by `createdAt` (direction from `orderBy`,
 *   DESC by default as spacectl asks), paginated with cursors (`predicates` are ignored). No
 *   audit entry is written by the fake itself: a test records what Spacelift would have.
 * - a stack's environment, modelled on the real operations (shapes read in Spacelift's own
 *   clients: the Terraform provider's `structs.ConfigInput` / `structs.ConfigElement` and
 *   `resource_environment_variable.go`, spacectl's `internal/cmd/stack/environment.go` and
 *   `show.go`):
 *   - `stack(id: ID!) { config { id type value writeOnly description } }`: `stack` is null when
 *     there is no such stack; a write-only element's `value` is null;
 *   - `stackConfigAdd(stack: ID!, config: ConfigInput!)`, ConfigInput
 *     `{id, type: ENVIRONMENT_VARIABLE | FILE_MOUNT, value, writeOnly, description}`: creates
 *     the element, or replaces the one with that id; returns the element;
 *   - `stackConfigDelete(stack: ID!, id: ID!)`: returns the deleted element, or null when the
 *     stack had none of that id.
 * It does not evaluate selection sets: nodes are returned whole.
 *
 * Its truth ({@link FakeSpaceliftState}) is mutable while it runs, and
 * {@link FakeSpaceliftFaults} makes it misbehave on demand.
 *
 * @example
 * const spacelift = await startFakeSpacelift({ stacks: [{ id: "a", space: "root", labels: [] }] });
 * const client = new SpaceliftGraphqlClient({
 *   endpoint: spacelift.endpoint,
 *   apiKeyId: spacelift.apiKeyId,
 *   apiKeySecret: spacelift.apiKeySecret,
 * });
 * spacelift.faults.rateLimit(2, { retryAfter: "1" });
 * await client.listStacks();
 * await spacelift.close();
 */

import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { SpaceFields, StackFields } from "../../functions/spacelift/resources.ts";

export const FAKE_API_KEY_ID = "01FAKESPACELIFTAPIKEY00000";
export const FAKE_API_KEY_SECRET = "fake-spacelift-secret-0123456789abcdef";

/** The operations the fake tells apart, by root field. */
export type FakeSpaceliftOperation =
  | "apiKeyUser"
  | "searchStacks"
  | "spaces"
  | "space"
  | "searchAuditTrailEntries"
  | "stack"
  | "stackConfigAdd"
  | "stackConfigDelete"
  | "unknown";

/** One element of a stack's `config` (an environment variable or a mounted file). */
export interface FakeConfigElement {
  readonly id: string;
  readonly type: "ENVIRONMENT_VARIABLE" | "FILE_MOUNT";
  readonly value: string;
  readonly writeOnly: boolean;
  readonly description: string | null;
}

/**
 * How a request with a missing, unknown or expired token is answered:
 * - `"graphql-error"`: HTTP 200 with `errors: [{ message: "unauthorized" }]` and `data: null`;
 * - `"http-401"`: HTTP 401 with the same body;
 * - `"anonymous"`: as if no one had asked, i.e. empty lists. Spacelift has been seen
 *   answering an expired token this way (spacelift-io/spacectl#79); a reconciler must not
 *   read it as "everything was deleted".
 */
export type UnauthorizedResponse = "graphql-error" | "http-401" | "anonymous";

export interface FakeSpaceliftOptions {
  /** Default {@link FAKE_API_KEY_ID}. */
  readonly apiKeyId?: string;
  /** Default {@link FAKE_API_KEY_SECRET}. */
  readonly apiKeySecret?: string;
  /** Lifetime of issued tokens; default 3600. Can be changed later on the fake. */
  readonly tokenLifetimeSeconds?: number;
  /** Clock for issuing and checking tokens, in ms since the epoch; default `Date.now`. */
  readonly now?: () => number;
  readonly stacks?: readonly StackFields[];
  /** Default: only the `root` space, which every Spacelift account has. */
  readonly spaces?: readonly SpaceFields[];
  /** Largest `first` honoured by `searchStacks`; default 100. */
  readonly maxPageSize?: number;
  /** Default `"graphql-error"`. Can be changed later on the fake. */
  readonly unauthorizedResponse?: UnauthorizedResponse;
}

/** One answered request. */
export interface FakeSpaceliftRequest {
  readonly operation: FakeSpaceliftOperation;
  readonly status: number;
  /** The fault that shaped the answer, or `"unauthorized"` for a rejected token. */
  readonly outcome: "ok" | "unauthorized" | FakeSpaceliftFault["kind"];
}

export const ROOT_SPACE: SpaceFields = {
  id: "root",
  name: "root",
  parentSpace: null,
  labels: [],
};

/** One audit-trail entry, as `searchAuditTrailEntries` answers it (`createdAt` in seconds). */
export interface FakeAuditTrailEntry {
  readonly id: string;
  readonly action: string;
  readonly createdAt: number;
  readonly affectedResource: { readonly resourceType: string; readonly resourceId: string | null };
}

/** What Spacelift holds. Arrays may be edited directly or through the methods. */
export class FakeSpaceliftState {
  stacks: StackFields[];
  spaces: SpaceFields[];
  /** Each stack's environment (variables and mounted files), by stack id. */
  readonly config = new Map<string, FakeConfigElement[]>();
  /** The audit trail, in the order entries were recorded. */
  auditTrail: FakeAuditTrailEntry[] = [];

  constructor(stacks: readonly StackFields[], spaces: readonly SpaceFields[]) {
    this.stacks = [...stacks];
    this.spaces = [...spaces];
  }

  /** Adds a stack, or replaces the stack with that id. */
  addStack(stack: StackFields): void {
    this.stacks = [...this.stacks.filter(({ id }) => id !== stack.id), stack];
  }

  /** The stack's config element of that id (as stored: write-only values included). */
  configElement(stackId: string, id: string): FakeConfigElement | undefined {
    return this.config.get(stackId)?.find((element) => element.id === id);
  }

  /** Sets a config element as someone would in the UI (a stack that does not exist gets it too). */
  putConfig(stackId: string, element: FakeConfigElement): void {
    const others = (this.config.get(stackId) ?? []).filter(({ id }) => id !== element.id);
    this.config.set(stackId, [...others, element]);
  }

  /** True when a stack was removed (its environment goes with it). */
  removeStack(id: string): boolean {
    this.config.delete(id);
    const before = this.stacks.length;
    this.stacks = this.stacks.filter((stack) => stack.id !== id);
    return this.stacks.length < before;
  }

  /**
   * Records an audit entry as Spacelift would for `action` (`stack.create`, `space.delete`, …)
   * on `resourceId` at `at` (ms; stored in seconds, as Spacelift gives it). The resource type is
   * the action's prefix in capitals unless `resourceType` says otherwise.
   */
  recordAudit(
    action: string,
    resourceId: string | null,
    at: number,
    resourceType = (action.split(".")[0] ?? "").toUpperCase(),
  ): FakeAuditTrailEntry {
    const entry = {
      id: `01AUDIT${String(this.auditTrail.length + 1).padStart(19, "0")}`,
      action,
      createdAt: Math.floor(at / 1000),
      affectedResource: { resourceType, resourceId },
    };
    this.auditTrail = [...this.auditTrail, entry];
    return entry;
  }

  /** Adds a space, or replaces the space with that id. */
  addSpace(space: SpaceFields): void {
    this.spaces = [...this.spaces.filter(({ id }) => id !== space.id), space];
  }

  /** True when a space was removed. Stacks in it are left alone, as the test set them. */
  removeSpace(id: string): boolean {
    const before = this.spaces.length;
    this.spaces = this.spaces.filter((space) => space.id !== id);
    return this.spaces.length < before;
  }
}

/** A one-off misbehaviour, applied before the token is checked. */
export type FakeSpaceliftFault =
  | { readonly kind: "rate-limited"; readonly retryAfter: string | undefined }
  | { readonly kind: "server-error"; readonly status: number }
  | {
      readonly kind: "graphql-errors";
      readonly messages: readonly string[];
      /** `extensions.code` of each error, when given. */
      readonly code: string | undefined;
      /** A `Retry-After` header on the answer, when given. */
      readonly retryAfter: string | undefined;
    }
  | { readonly kind: "malformed"; readonly body: unknown };

interface ScheduledFault {
  readonly fault: FakeSpaceliftFault;
  readonly operation: FakeSpaceliftOperation | undefined;
  remaining: number;
  /** Matching requests still to answer normally before this fault starts. */
  skip: number;
}

/** Only requests for this operation are affected (and counted); default: any request. */
export interface FaultScope {
  readonly operation?: FakeSpaceliftOperation;
  /** The first `skip` matching requests are answered normally (e.g. 2: the fault hits page 3). */
  readonly skip?: number;
}

/**
 * Fault knobs. Each schedules the next `times` matching requests (`Infinity` for ever);
 * faults apply in the order they were scheduled.
 */
export class FakeSpaceliftFaults {
  readonly #scheduled: ScheduledFault[] = [];
  readonly #revokeTokens: () => void;

  constructor(revokeTokens: () => void) {
    this.#revokeTokens = revokeTokens;
  }

  /** HTTP 429, with `Retry-After: <retryAfter>` when given (seconds or an HTTP date). */
  rateLimit(times: number, options: FaultScope & { retryAfter?: string } = {}): void {
    this.#schedule(times, options, { kind: "rate-limited", retryAfter: options.retryAfter });
  }

  /** HTTP 500 (or `status`) with a plain-text body. */
  serverError(times: number, options: FaultScope & { status?: number } = {}): void {
    this.#schedule(times, options, { kind: "server-error", status: options.status ?? 500 });
  }

  /** HTTP 200 with `data: null` and an `errors` array of these messages (with `extensions.code`). */
  graphqlErrors(
    times: number,
    messages: readonly string[],
    options: FaultScope & { code?: string; retryAfter?: string } = {},
  ): void {
    this.#schedule(times, options, {
      kind: "graphql-errors",
      messages,
      code: options.code,
      retryAfter: options.retryAfter,
    });
  }

  /** HTTP 200 with exactly this JSON body. */
  malformed(times: number, body: unknown, options: FaultScope = {}): void {
    this.#schedule(times, options, { kind: "malformed", body });
  }

  /** Every token issued so far stops working now, whatever its `validUntil` said. */
  expireTokens(): void {
    this.#revokeTokens();
  }

  /** Drops every scheduled fault. */
  clear(): void {
    this.#scheduled.length = 0;
  }

  /** Used by the server: the fault for this request, if any, counted as used. */
  take(operation: FakeSpaceliftOperation): FakeSpaceliftFault | undefined {
    const scheduled = this.#scheduled.find(
      (entry) =>
        entry.remaining > 0 && (entry.operation === undefined || entry.operation === operation),
    );
    if (scheduled === undefined) return undefined;
    if (scheduled.skip > 0) {
      scheduled.skip -= 1;
      return undefined;
    }
    scheduled.remaining -= 1;
    return scheduled.fault;
  }

  #schedule(times: number, scope: FaultScope, fault: FakeSpaceliftFault): void {
    if (!(times >= 0)) throw new RangeError("times must be a non-negative number");
    this.#scheduled.push({
      fault,
      operation: scope.operation,
      remaining: times,
      skip: scope.skip ?? 0,
    });
  }
}

interface IssuedToken {
  /** Seconds since the epoch. */
  validUntil: number;
}

/** A running fake; see the module documentation. */
export class FakeSpaceliftServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `http://127.0.0.1:<port>/graphql`, the GraphQL endpoint. */
  readonly endpoint: string;
  readonly apiKeyId: string;
  readonly apiKeySecret: string;
  readonly state: FakeSpaceliftState;
  readonly faults: FakeSpaceliftFaults;
  /** Every answered request, oldest first. Clear it with `requests.length = 0`. */
  readonly requests: FakeSpaceliftRequest[] = [];
  tokenLifetimeSeconds: number;
  unauthorizedResponse: UnauthorizedResponse;

  readonly #server: Server;
  readonly #now: () => number;
  readonly #maxPageSize: number;
  readonly #tokens = new Map<string, IssuedToken>();

  /** Takes over a listening server; use {@link startFakeSpacelift}. */
  constructor(server: Server, options: FakeSpaceliftOptions) {
    const { port } = server.address() as AddressInfo;
    this.#server = server;
    this.url = `http://127.0.0.1:${port}`;
    this.endpoint = `${this.url}/graphql`;
    this.apiKeyId = options.apiKeyId ?? FAKE_API_KEY_ID;
    this.apiKeySecret = options.apiKeySecret ?? FAKE_API_KEY_SECRET;
    this.state = new FakeSpaceliftState(options.stacks ?? [], options.spaces ?? [ROOT_SPACE]);
    this.faults = new FakeSpaceliftFaults(() => this.#tokens.clear());
    this.tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 3600;
    this.unauthorizedResponse = options.unauthorizedResponse ?? "graphql-error";
    this.#now = options.now ?? Date.now;
    this.#maxPageSize = options.maxPageSize ?? 100;
    server.on("request", (request: IncomingMessage, response: ServerResponse) => {
      this.#handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) response.writeHead(500, { "content-type": "text/plain" });
        response.end(`fake Spacelift failed: ${String(error)}`);
      });
    });
  }

  /** The operations of {@link requests}, oldest first. */
  operations(): FakeSpaceliftOperation[] {
    return this.requests.map(({ operation }) => operation);
  }

  /** Stops listening and drops open connections. */
  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.close((error) => (error ? reject(error) : resolve()));
      this.#server.closeAllConnections();
    });
  }

  /**
   * Called with each operation once its answer is built, before it is sent: a test changes
   * Spacelift here to model a change made while a reconcile runs (after it read the listing).
   */
  afterAnswer: ((operation: FakeSpaceliftOperation) => void | Promise<void>) | undefined;

  /** Answers, logs and sends. */
  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const reply = await this.#answer(request);
    await this.afterAnswer?.(reply.operation);
    this.requests.push({
      operation: reply.operation,
      status: reply.status,
      outcome: reply.outcome,
    });
    const isText = typeof reply.body === "string";
    response.writeHead(reply.status, {
      ...reply.headers,
      "content-type": isText ? "text/plain" : "application/json",
    });
    response.end(isText ? reply.body : JSON.stringify(reply.body));
  }

  async #answer(request: IncomingMessage): Promise<Reply> {
    const path = new URL(request.url ?? "/", this.url).pathname;
    if (path !== "/graphql") return reply("unknown", 404, "not found");
    if (request.method !== "POST") return reply("unknown", 405, "method not allowed");

    let payload: { query?: unknown; variables?: unknown };
    try {
      payload = JSON.parse(await readBody(request)) as typeof payload;
    } catch {
      return reply("unknown", 400, { errors: [{ message: "body is not JSON" }] });
    }
    const query = typeof payload.query === "string" ? payload.query : "";
    const variables = isRecord(payload.variables) ? payload.variables : {};
    const operation = recogniseOperation(query);

    const fault = this.faults.take(operation);
    if (fault !== undefined) return replyWithFault(operation, fault);

    if (operation === "apiKeyUser") return this.#apiKeyUser(query, variables);
    if (operation === "unknown") {
      return reply(operation, 200, {
        data: null,
        errors: [{ message: "the fake Spacelift does not know this operation" }],
      });
    }

    if (!this.#isAuthorized(request.headers.authorization)) {
      if (this.unauthorizedResponse === "anonymous") {
        const empty =
          operation === "spaces"
            ? { spaces: [] }
            : operation === "stack"
              ? { stack: null }
              : operation === "space"
                ? { space: null }
                : operation === "searchAuditTrailEntries"
                  ? { searchAuditTrailEntries: emptyPage() }
                  : { searchStacks: emptyPage() };
        return reply(operation, 200, { data: empty }, "unauthorized");
      }
      const status = this.unauthorizedResponse === "http-401" ? 401 : 200;
      const body = { data: null, errors: [{ message: "unauthorized", path: [operation] }] };
      return reply(operation, status, body, "unauthorized");
    }

    if (operation === "spaces")
      return reply(operation, 200, { data: { spaces: this.state.spaces } });
    if (operation === "stack") return this.#stack(query, variables);
    if (operation === "space") return this.#space(query, variables);
    if (operation === "searchAuditTrailEntries") return this.#searchAuditTrailEntries(variables);
    if (operation === "stackConfigAdd") return this.#stackConfigAdd(query, variables);
    if (operation === "stackConfigDelete") return this.#stackConfigDelete(query, variables);
    return this.#searchStacks(variables);
  }

  #apiKeyUser(query: string, variables: Record<string, unknown>): Reply {
    const args = readArguments(query, "apiKeyUser", variables);
    if (args.id !== this.apiKeyId || args.secret !== this.apiKeySecret) {
      return reply("apiKeyUser", 200, {
        data: { apiKeyUser: null },
        errors: [{ message: "unauthorized", path: ["apiKeyUser"] }],
      });
    }
    const validUntil = Math.floor(this.#now() / 1000) + this.tokenLifetimeSeconds;
    const jwt = issueJwt(this.apiKeyId, this.url, validUntil);
    this.#tokens.set(jwt, { validUntil });
    return reply("apiKeyUser", 200, { data: { apiKeyUser: { jwt, validUntil } } });
  }

  #stack(query: string, variables: Record<string, unknown>): Reply {
    const { id } = readArguments(query, "stack", variables);
    const stack = this.state.stacks.find((candidate) => candidate.id === id);
    if (typeof id !== "string" || stack === undefined) {
      return reply("stack", 200, { data: { stack: null } });
    }
    const config = (this.state.config.get(id) ?? []).map(visibleElement);
    return reply("stack", 200, {
      data: { stack: { id, space: stack.space, labels: stack.labels, config } },
    });
  }

  #space(query: string, variables: Record<string, unknown>): Reply {
    const { id } = readArguments(query, "space", variables);
    const space = this.state.spaces.find((candidate) => candidate.id === id);
    return reply("space", 200, { data: { space: space ?? null } });
  }

  #searchAuditTrailEntries(variables: Record<string, unknown>): Reply {
    const input = isRecord(variables.input) ? variables.input : {};
    const first = input.first ?? this.#maxPageSize;
    const after = input.after ?? null;
    const orderBy = isRecord(input.orderBy) ? input.orderBy : {};
    const ascending = orderBy.direction === "ASC";
    if (
      typeof first !== "number" ||
      !Number.isInteger(first) ||
      first < 1 ||
      (after !== null && typeof after !== "string") ||
      (orderBy.field !== undefined && orderBy.field !== "createdAt")
    ) {
      return graphqlError("searchAuditTrailEntries", "invalid search input");
    }
    const ordered = [...this.state.auditTrail].sort(
      (a, b) => (a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1)) * (ascending ? 1 : -1),
    );
    const start =
      after === null ? 0 : ordered.findIndex(({ id }) => encodeCursor(id) === after) + 1;
    if (start === 0 && after !== null) {
      return graphqlError("searchAuditTrailEntries", "invalid cursor");
    }
    const page = ordered.slice(start, start + Math.min(first, this.#maxPageSize));
    const edges = page.map((node) => ({ cursor: encodeCursor(node.id), node }));
    return reply("searchAuditTrailEntries", 200, {
      data: {
        searchAuditTrailEntries: {
          edges,
          pageInfo: {
            endCursor: edges.at(-1)?.cursor ?? null,
            hasNextPage: start + page.length < ordered.length,
            hasPreviousPage: start > 0,
          },
        },
      },
    });
  }

  #stackConfigAdd(query: string, variables: Record<string, unknown>): Reply {
    const { stack, config } = readArguments(query, "stackConfigAdd", variables);
    const element = readConfigInput(config);
    if (typeof stack !== "string" || element === undefined) {
      return graphqlError("stackConfigAdd", "invalid ConfigInput");
    }
    if (!this.state.stacks.some(({ id }) => id === stack)) {
      return graphqlError("stackConfigAdd", "stack not found");
    }
    this.state.putConfig(stack, element);
    return reply("stackConfigAdd", 200, {
      data: { stackConfigAdd: visibleElement(element) },
    });
  }

  #stackConfigDelete(query: string, variables: Record<string, unknown>): Reply {
    const { stack, id } = readArguments(query, "stackConfigDelete", variables);
    if (typeof stack !== "string" || typeof id !== "string") {
      return graphqlError("stackConfigDelete", "stack and id are required");
    }
    if (!this.state.stacks.some((candidate) => candidate.id === stack)) {
      return graphqlError("stackConfigDelete", "stack not found");
    }
    const element = this.state.configElement(stack, id);
    if (element !== undefined) {
      this.state.config.set(
        stack,
        (this.state.config.get(stack) ?? []).filter((candidate) => candidate.id !== id),
      );
    }
    return reply("stackConfigDelete", 200, {
      data: { stackConfigDelete: element === undefined ? null : visibleElement(element) },
    });
  }

  #searchStacks(variables: Record<string, unknown>): Reply {
    const input = isRecord(variables.input) ? variables.input : {};
    const first = input.first ?? this.#maxPageSize;
    const after = input.after ?? null;
    const afterId = typeof after === "string" ? decodeCursor(after) : undefined;
    if (
      typeof first !== "number" ||
      !Number.isInteger(first) ||
      first < 1 ||
      (after !== null && afterId === undefined)
    ) {
      return reply("searchStacks", 200, {
        data: null,
        errors: [{ message: "invalid search input", path: ["searchStacks"] }],
      });
    }

    const ordered = [...this.state.stacks].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    // Keyset pagination: a page starts after the last id seen, so edits between pages
    // neither repeat nor skip the stacks that stayed.
    const remaining = afterId === undefined ? ordered : ordered.filter(({ id }) => id > afterId);
    const page = remaining.slice(0, Math.min(first, this.#maxPageSize));
    const edges = page.map((node) => ({ cursor: encodeCursor(node.id), node }));
    return reply("searchStacks", 200, {
      data: {
        searchStacks: {
          edges,
          pageInfo: {
            endCursor: edges.at(-1)?.cursor ?? null,
            hasNextPage: remaining.length > page.length,
            hasPreviousPage: afterId !== undefined,
          },
        },
      },
    });
  }

  #isAuthorized(header: string | undefined): boolean {
    const jwt = /^Bearer (\S+)$/.exec(header ?? "")?.[1];
    const token = jwt === undefined ? undefined : this.#tokens.get(jwt);
    return token !== undefined && this.#now() < token.validUntil * 1000;
  }
}

interface Reply {
  readonly operation: FakeSpaceliftOperation;
  readonly outcome: FakeSpaceliftRequest["outcome"];
  readonly status: number;
  /** A string is sent as text/plain, anything else as JSON. */
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

function reply(
  operation: FakeSpaceliftOperation,
  status: number,
  body: unknown,
  outcome: FakeSpaceliftRequest["outcome"] = "ok",
): Reply {
  return { operation, outcome, status, body };
}

function replyWithFault(operation: FakeSpaceliftOperation, fault: FakeSpaceliftFault): Reply {
  switch (fault.kind) {
    case "rate-limited":
      return {
        ...reply(operation, 429, "too many requests", fault.kind),
        headers: fault.retryAfter === undefined ? {} : { "retry-after": fault.retryAfter },
      };
    case "server-error":
      return reply(operation, fault.status, "internal server error", fault.kind);
    case "graphql-errors":
      return {
        ...reply(
          operation,
          200,
          {
            data: null,
            errors: fault.messages.map((message) => ({
              message,
              path: [operation],
              ...(fault.code !== undefined && { extensions: { code: fault.code } }),
            })),
          },
          fault.kind,
        ),
        headers: fault.retryAfter === undefined ? {} : { "retry-after": fault.retryAfter },
      };
    case "malformed":
      return reply(operation, 200, fault.body, fault.kind);
  }
}

/** Starts a fake Spacelift on 127.0.0.1 and an ephemeral port. Call `close()` when done. */
export async function startFakeSpacelift(
  options: FakeSpaceliftOptions = {},
): Promise<FakeSpaceliftServer> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return new FakeSpaceliftServer(server, options);
}

function recogniseOperation(query: string): FakeSpaceliftOperation {
  if (/\bapiKeyUser\s*\(/.test(query)) return "apiKeyUser";
  if (/\bstackConfigAdd\s*\(/.test(query)) return "stackConfigAdd";
  if (/\bstackConfigDelete\s*\(/.test(query)) return "stackConfigDelete";
  if (/\bsearchAuditTrailEntries\s*\(/.test(query)) return "searchAuditTrailEntries";
  if (/\bstack\s*\(/.test(query)) return "stack";
  if (/\bspace\s*\(/.test(query)) return "space";
  if (/\bsearchStacks\s*\(/.test(query)) return "searchStacks";
  if (/\bspaces\b/.test(query)) return "spaces";
  return "unknown";
}

/** The arguments of `field(...)`, with `$variables` resolved and string literals read. */
function readArguments(
  query: string,
  field: string,
  variables: Record<string, unknown>,
): Record<string, unknown> {
  const list = new RegExp(`\\b${field}\\s*\\(([^)]*)\\)`).exec(query)?.[1] ?? "";
  const args: Record<string, unknown> = {};
  for (const [, name, value] of list.matchAll(/(\w+)\s*:\s*(\$\w+|"(?:[^"\\]|\\.)*")/g)) {
    if (name === undefined || value === undefined) continue;
    args[name] = value.startsWith("$") ? variables[value.slice(1)] : JSON.parse(value);
  }
  return args;
}

function graphqlError(operation: FakeSpaceliftOperation, message: string): Reply {
  return reply(operation, 200, { data: null, errors: [{ message, path: [operation] }] });
}

/** An element as the API shows it: a write-only value is never returned. */
function visibleElement(element: FakeConfigElement): Record<string, unknown> {
  return { ...element, value: element.writeOnly ? null : element.value };
}

/** A ConfigInput, checked like the schema would: id, type, value and writeOnly are required. */
function readConfigInput(input: unknown): FakeConfigElement | undefined {
  if (!isRecord(input)) return undefined;
  const { id, type, value, writeOnly, description } = input;
  if (typeof id !== "string" || id === "" || typeof value !== "string") return undefined;
  if (type !== "ENVIRONMENT_VARIABLE" && type !== "FILE_MOUNT") return undefined;
  if (typeof writeOnly !== "boolean") return undefined;
  if (description !== undefined && description !== null && typeof description !== "string") {
    return undefined;
  }
  return { id, type, value, writeOnly, description: description ?? null };
}

function emptyPage(): unknown {
  return { edges: [], pageInfo: { endCursor: null, hasNextPage: false } };
}

function encodeCursor(id: string): string {
  return Buffer.from(`stack:${id}`).toString("base64url");
}

function decodeCursor(cursor: string): string | undefined {
  const decoded = Buffer.from(cursor, "base64url").toString("utf8");
  return decoded.startsWith("stack:") ? decoded.slice("stack:".length) : undefined;
}

/** JWT-shaped, unsigned in any meaningful way: the fake only compares it with what it issued. */
function issueJwt(subject: string, audience: string, validUntil: number): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const header = encode({ alg: "HS256", typ: "JWT" });
  const claims = encode({ sub: subject, aud: [audience], exp: validUntil, jti: randomId() });
  return `${header}.${claims}.${randomBytes(32).toString("base64url")}`;
}

function randomId(): string {
  return randomBytes(12).toString("hex");
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
