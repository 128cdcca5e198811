/**
 * Spacelift's GraphQL API as a {@link SpaceliftDirectory} (the reconciler's view of which
 * stacks and spaces exist) and a {@link SpaceliftAuditTrail} (the catch-up's), over one
 * {@link SpaceliftTransport}: documents and schemas in documents.ts, authentication and
 * retries in transport.ts.
 */

import type * as z from "zod/mini";
import { SpaceliftApiError } from "../core/errors.ts";
import type { SpaceId, StackId } from "../core/identifiers.ts";
import type {
  AuditTrailEntry,
  SpaceliftAuditTrail,
  SpaceliftDirectory,
  SpaceliftResources,
  SpaceliftSpace,
  SpaceliftStack,
  UnusableSpaceliftResource,
} from "../core/ports.ts";
import {
  type AuditTrailPage,
  auditTrailSchema,
  SEARCH_AUDIT_TRAIL_ENTRIES,
  SEARCH_STACKS,
  SPACE,
  SPACES,
  STACK,
  type StackPage,
  searchStacksSchema,
  spaceSchema,
  spacesSchema,
  stackSchema,
} from "./documents.ts";
import { parseAffectedResource, parseSpace, parseStack, partitionResources } from "./resources.ts";
import {
  type SpaceliftGraphqlRequester,
  SpaceliftTransport,
  type SpaceliftTransportOptions,
  toGraphqlEndpoint,
} from "./transport.ts";

export interface SpaceliftGraphqlClientOptions extends SpaceliftTransportOptions {
  /** Stacks asked for per `searchStacks` page. Default 50. */
  readonly pageSize?: number;
}

const DEFAULT_PAGE_SIZE = 50;

export class SpaceliftGraphqlClient
  implements SpaceliftDirectory, SpaceliftAuditTrail, SpaceliftGraphqlRequester
{
  readonly #transport: SpaceliftTransport;
  readonly #pageSize: number;

  constructor(options: SpaceliftGraphqlClientOptions) {
    const { pageSize = DEFAULT_PAGE_SIZE, ...transport } = options;
    this.#transport = new SpaceliftTransport(transport);
    this.#pageSize = pageSize;
    if (!Number.isInteger(this.#pageSize) || this.#pageSize < 1) {
      throw new RangeError("pageSize must be a positive integer");
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

  async listStacks(): Promise<SpaceliftResources<SpaceliftStack>> {
    // Keyed by id: a stack that moves between pages while we read shows up once.
    const stacks = new Map<string, SpaceliftStack | UnusableSpaceliftResource>();
    let after: string | null = null;
    for (;;) {
      const variables = { input: { first: this.#pageSize, after } };
      const page: StackPage = await this.#transport.request(
        "SearchStacks",
        SEARCH_STACKS,
        searchStacksSchema,
        variables,
      );
      const { searchStacks } = page;
      for (const { node } of searchStacks.edges) {
        stacks.set(node.id, parseStack(node));
      }
      if (!searchStacks.pageInfo.hasNextPage) return partitionResources([...stacks.values()]);
      after = nextCursor("SearchStacks", searchStacks, after);
    }
  }

  async listSpaces(): Promise<SpaceliftResources<SpaceliftSpace>> {
    const { spaces } = await this.#transport.request("Spaces", SPACES, spacesSchema, {});
    return partitionResources(spaces.map((space) => parseSpace(space, "as-none")));
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
      const page: AuditTrailPage = await this.#transport.request(
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
          resource: parseAffectedResource(
            node.affectedResource.resourceType,
            node.affectedResource.resourceId,
          ),
          createdAt,
        });
      }
      if (reachedSince || !pageInfo.hasNextPage) {
        return [...entries.values()].sort((a, b) => a.createdAt - b.createdAt);
      }
      after = nextCursor("SearchAuditTrailEntries", page.searchAuditTrailEntries, after);
    }
  }

  async stack(id: StackId): Promise<SpaceliftStack | UnusableSpaceliftResource | undefined> {
    const { stack } = await this.#transport.request("Stack", STACK, stackSchema, { id });
    return stack === null ? undefined : parseStack(stack);
  }

  async space(id: SpaceId): Promise<SpaceliftSpace | UnusableSpaceliftResource | undefined> {
    const { space } = await this.#transport.request("Space", SPACE, spaceSchema, { id });
    return space === null ? undefined : parseSpace(space, "unusable");
  }

  /**
   * Any other authenticated operation (the stack environment's adapter uses it), over the same
   * token and retries as the client's own.
   */
  request<T>(
    operation: string,
    query: string,
    schema: z.ZodMiniType<T>,
    variables: Record<string, unknown>,
  ): Promise<T> {
    return this.#transport.request(operation, query, schema, variables);
  }
}

/**
 * The cursor of the page after this one (its `endCursor`, else its last edge's); a cursor that
 * is missing or does not advance would read the same page for ever, so it fails the listing.
 */
function nextCursor(
  operation: string,
  page: {
    readonly pageInfo: { readonly endCursor?: string | null | undefined };
    readonly edges: readonly { readonly cursor?: string | null | undefined }[];
  },
  after: string | null,
): string {
  const next = page.pageInfo.endCursor ?? page.edges.at(-1)?.cursor ?? null;
  if (next === null || next === after) {
    throw new SpaceliftApiError("hasNextPage is true but the cursor does not advance", {
      operation,
    });
  }
  return next;
}
