/**
 * The GraphQL documents the directory and the audit trail send, each with the zod schema of
 * the `data` it answers. The shapes are those Spacelift's own clients use (spacectl, the
 * Terraform provider).
 */

import * as z from "zod/mini";
import "../core/zod-locale.ts";

export const SEARCH_STACKS = `query SearchStacks($input: SearchInput!) {
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
export const SPACES = `query Spaces {
  spaces { id name parentSpace labels }
}`;

/**
 * Audit-trail entries, newest first: the input spacectl's `audit-trail list` sends (SearchInput
 * with `orderBy: {field: "createdAt", direction: "DESC"}`, `first`, `after`) and the fields it
 * reads (internal/cmd/audittrail/list.go). `createdAt` is in seconds since the epoch.
 */
export const SEARCH_AUDIT_TRAIL_ENTRIES = `query SearchAuditTrailEntries($input: SearchInput!) {
  searchAuditTrailEntries(input: $input) {
    edges { cursor node { id action createdAt affectedResource { resourceType resourceId } } }
    pageInfo { endCursor hasNextPage }
  }
}`;

/** One stack; `stack` is null when there is no such stack (as spacectl reads it). */
export const STACK = `query Stack($id: ID!) {
  stack(id: $id) { id space labels }
}`;

/** One space; `space` is null when there is no such space (as spacectl reads it). */
export const SPACE = `query Space($id: ID!) {
  space(id: $id) { id name parentSpace labels }
}`;

const labelsSchema = z.pipe(
  z.nullish(z.array(z.string())),
  z.transform((labels: string[] | null | undefined) => labels ?? []),
);

const pageInfoSchema = z.object({ endCursor: z.nullish(z.string()), hasNextPage: z.boolean() });

const stackNodeSchema = z.object({
  id: z.string().check(z.minLength(1)),
  space: z.string().check(z.minLength(1)),
  labels: labelsSchema,
});

export type StackNode = z.infer<typeof stackNodeSchema>;

export const searchStacksSchema = z.object({
  searchStacks: z.object({
    edges: z.array(z.object({ cursor: z.nullish(z.string()), node: stackNodeSchema })),
    pageInfo: pageInfoSchema,
  }),
});

export type StackPage = z.infer<typeof searchStacksSchema>;

const spaceNodeSchema = z.object({
  id: z.string().check(z.minLength(1)),
  name: z.string(),
  parentSpace: z.pipe(
    z.nullish(z.string()),
    z.transform((parent: string | null | undefined) => parent ?? null),
  ),
  labels: labelsSchema,
});

export type SpaceNode = z.infer<typeof spaceNodeSchema>;

export const spacesSchema = z.object({ spaces: z.array(spaceNodeSchema) });

export const auditTrailSchema = z.object({
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
    pageInfo: pageInfoSchema,
  }),
});

export type AuditTrailPage = z.infer<typeof auditTrailSchema>;

export const stackSchema = z.object({ stack: z.nullable(stackNodeSchema) });

export const spaceSchema = z.object({ space: z.nullable(spaceNodeSchema) });
