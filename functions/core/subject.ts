/**
 * Spacelift's OIDC `sub` claim: the account's subject template, the `sub` patterns a role's
 * trust policy matches it with, and the space paths that `{spacePath}` needs.
 *
 * A Spacelift token's `sub` is the template with every placeholder filled in, e.g.
 * `space:prod-01H…:stack:payments-api:run_type:TRACKED:scope:write`. A role fixes the
 * placeholders that name what it belongs to (space, caller type, caller, and scope for a
 * read/write role) and wildcards the ones meant to vary (`{runType}`, `{runId}`, `{scope}`).
 */
import { PolicyRenderError } from "./errors.ts";
import type { SpaceId } from "./identifiers.ts";
import type { SpaceNode, SpacePathStore } from "./ports.ts";

/** Spacelift's default OIDC `sub` claim template. */
export const DEFAULT_SUBJECT_TEMPLATE =
  "space:{spaceId}:{callerType}:{callerId}:run_type:{runType}:scope:{scope}";

export const SUBJECT_PLACEHOLDERS = [
  "spaceId",
  "spacePath",
  "callerType",
  "callerId",
  "runType",
  "scope",
  "runId",
] as const;
export type SubjectPlaceholder = (typeof SUBJECT_PLACEHOLDERS)[number];

/**
 * The IAM policy variable a space role's `sts:TagSession` statement puts in the `{callerId}`
 * segment, so the `stack` session tag must name the stack the token was issued to.
 */
// biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, not a JS template
export const STACK_TAG_VARIABLE = "${aws:RequestTag/stack}";

/**
 * Field separators a fixed value is bounded by. No stack ID, space ID, caller type or scope
 * can contain them, and space names containing them are refused, so a pattern that fixes a
 * value between them cannot match a token for anything else.
 */
const HARD_DELIMITERS = /[:|]/;
/** What Spacelift itself accepts in a template: ≤ 1000 characters of these. */
const TEMPLATE_CHARACTERS = /^[A-Za-z0-9_:/|{}-]+$/;
const PLACEHOLDER = /(\{[a-zA-Z]+\})/;

/** Placeholders a role may fix, so each must stand between hard delimiters. */
const FIXABLE: readonly SubjectPlaceholder[] = [
  "spaceId",
  "spacePath",
  "callerType",
  "callerId",
  "scope",
];

type TemplatePart =
  | { readonly kind: "literal"; readonly text: string }
  | { readonly kind: "placeholder"; readonly name: SubjectPlaceholder };

/**
 * Checks an account's subject template the way Spacelift does, plus what a safe trust policy
 * needs: `{callerType}` and `{callerId}` (or a module with a stack's slug would match), a
 * space placeholder, and hard delimiters (`:` or `|`) around every placeholder a role fixes.
 */
export function validateSubjectTemplate(template: string): void {
  parseTemplate(template);
}

function parseTemplate(template: string): TemplatePart[] {
  if (template.length === 0 || template.length > 1000) {
    throw new PolicyRenderError("subject template must be 1 to 1000 characters");
  }
  if (!TEMPLATE_CHARACTERS.test(template)) {
    throw new PolicyRenderError(
      "subject template may hold only letters, digits and - _ : / | { } (Spacelift's own rule; no wildcards)",
    );
  }
  const parts: TemplatePart[] = template
    .split(PLACEHOLDER)
    .filter((part) => part !== "")
    .map((part) => {
      const name = /^\{([a-zA-Z]+)\}$/.exec(part)?.[1];
      if (name === undefined) {
        if (/[{}]/.test(part)) throw new PolicyRenderError("subject template has a stray brace");
        return { kind: "literal", text: part };
      }
      if (!isPlaceholder(name)) {
        throw new PolicyRenderError(`subject template has an unknown placeholder {${name}}`);
      }
      return { kind: "placeholder", name };
    });
  const names = new Set(parts.flatMap((part) => (part.kind === "placeholder" ? [part.name] : [])));
  for (const required of ["callerType", "callerId"] as const) {
    if (!names.has(required)) {
      throw new PolicyRenderError(`subject template must contain {${required}}`);
    }
  }
  if (!names.has("spaceId") && !names.has("spacePath")) {
    throw new PolicyRenderError("subject template must contain {spaceId} or {spacePath}");
  }
  for (const [index, part] of parts.entries()) {
    if (part.kind !== "placeholder" || !FIXABLE.includes(part.name)) continue;
    for (const neighbour of [parts[index - 1], parts[index + 1]]) {
      if (
        neighbour !== undefined &&
        !(neighbour.kind === "literal" && HARD_DELIMITERS.test(neighbour.text))
      ) {
        throw new PolicyRenderError(
          `placeholder {${part.name}} must be separated from its neighbours by literal text containing ':' or '|'`,
        );
      }
    }
  }
  return parts;
}

export function templateUses(template: string, placeholder: SubjectPlaceholder): boolean {
  return template.includes(`{${placeholder}}`);
}

/**
 * Renders the `sub` pattern of a role from the account's subject template: the placeholders in
 * `fixed` get their value, every other placeholder becomes `*`. A fixed value may hold no
 * wildcard, no policy variable (but {@link STACK_TAG_VARIABLE} as the caller) and no hard
 * delimiter, so no wildcard can reach into its segment.
 */
export function renderSubjectPattern(
  template: string,
  fixed: Readonly<Partial<Record<SubjectPlaceholder, string>>>,
): string {
  const parts = parseTemplate(template);
  const isFixed: boolean[] = [];
  const rendered = parts.map((part) => {
    if (part.kind === "literal") {
      isFixed.push(false);
      return part.text;
    }
    const value = fixed[part.name];
    isFixed.push(value !== undefined);
    if (value === undefined) return "*";
    assertSegmentValue(part.name, value);
    return value;
  });
  if (!isFixed.includes(true)) throw new PolicyRenderError("subject pattern fixes no placeholder");
  // When a wildcard follows the last fixed value and its one-character delimiter, one `*` says
  // the same as the rest of the template (any token starting with the fixed prefix was issued
  // to this resource) and keeps the policy short: `space:<id>:stack:*`.
  const lastFixed = isFixed.lastIndexOf(true);
  if (rendered[lastFixed + 1]?.length === 1 && rendered[lastFixed + 2] === "*") {
    return `${rendered.slice(0, lastFixed + 2).join("")}*`;
  }
  return rendered.join("");
}

function assertSegmentValue(name: SubjectPlaceholder, value: string): void {
  if (name === "callerId" && value === STACK_TAG_VARIABLE) return;
  if (value === "" || /[*?]/.test(value)) {
    throw new PolicyRenderError(`a wildcard may not stand inside the {${name}} segment`);
  }
  if (/[$:|\p{Cc}]/u.test(value)) {
    throw new PolicyRenderError(
      `the {${name}} value ${JSON.stringify(value)} holds '$', ':', '|' or a control character`,
    );
  }
}

/**
 * Checks a rendered `sub` pattern: split on the hard delimiters, a wildcard may only stand for
 * a whole field (never `prod*`), and every value in `segments` must be a whole field of it.
 */
export function assertSubjectPattern(pattern: string, segments: readonly string[]): void {
  const fields = pattern.replaceAll(STACK_TAG_VARIABLE, "\u0000").split(/[:|]/);
  for (const field of fields) {
    if (field.includes("$")) {
      throw new PolicyRenderError(`sub pattern ${JSON.stringify(pattern)} holds a policy variable`);
    }
    if (/[*?]/.test(field) && field !== "*") {
      throw new PolicyRenderError(
        `sub pattern ${JSON.stringify(pattern)} has a wildcard inside a segment (${JSON.stringify(field)})`,
      );
    }
  }
  for (const segment of segments) {
    const wanted = segment === STACK_TAG_VARIABLE ? "\u0000" : segment;
    if (!fields.includes(wanted)) {
      throw new PolicyRenderError(
        `sub pattern ${JSON.stringify(pattern)} does not pin ${JSON.stringify(segment)} as a whole segment`,
      );
    }
  }
}

function isPlaceholder(name: string): name is SubjectPlaceholder {
  return (SUBJECT_PLACEHOLDERS as readonly string[]).includes(name);
}

/**
 * `{spacePath}` could not be resolved: a space on the way to the root has not been seen in a
 * `space.create`/`space.update` event yet. Retryable: it is usually an ordering gap (the space
 * event sits in another message group), and a role must never get a wider pattern instead.
 */
export class SpacePathUnknownError extends Error {
  override readonly name = "SpacePathUnknownError";
}

/**
 * Spacelift's built-in spaces. `root` is the top of every path; `legacy` sits right under it.
 */
const BUILT_IN_SPACES: Readonly<Record<string, SpaceNode>> = {
  root: { spaceId: "root" as SpaceId, name: "root", parentSpaceId: undefined },
  legacy: { spaceId: "legacy" as SpaceId, name: "legacy", parentSpaceId: "root" as SpaceId },
};

/** Deeper than any real hierarchy; stops a parent cycle from looping. */
const MAX_SPACE_DEPTH = 32;

/**
 * The space's full path as Spacelift renders `{spacePath}`: the space names from the root
 * down, each preceded by `/` (`/root/production/us-east-1`). Throws SpacePathUnknownError
 * when a space on the way is unknown or has no known name or parent.
 */
export async function resolveSpacePath(
  spaceId: SpaceId,
  store: SpacePathStore | undefined,
): Promise<string> {
  const names: string[] = [];
  let current: SpaceId | undefined = spaceId;
  while (current !== undefined) {
    if (names.length >= MAX_SPACE_DEPTH) {
      throw new PolicyRenderError(`space ${spaceId} is nested deeper than ${MAX_SPACE_DEPTH}`);
    }
    const node: SpaceNode | undefined = BUILT_IN_SPACES[current] ?? (await store?.get(current));
    if (node?.name === undefined || (node.parentSpaceId === undefined && current !== "root")) {
      throw new SpacePathUnknownError(
        `the {spacePath} of space ${spaceId} is unknown: no space.create/space.update event has told the ${node === undefined ? "" : node.name === undefined ? "name of " : "parent of "}space ${current} yet; the role is not written rather than trusting a wider pattern (retrying)`,
      );
    }
    names.unshift(node.name);
    current = node.parentSpaceId;
  }
  const path = `/${names.join("/")}`;
  for (const name of names) {
    if (name === "" || /[/*?$:|\p{Cc}]/u.test(name)) {
      throw new PolicyRenderError(
        `space path ${JSON.stringify(path)} has a space name with '/', a wildcard, '$', ':', '|' or a control character`,
      );
    }
  }
  return path;
}

/** Merges what a space event says into what is known (an update may leave fields unsaid). */
export function mergeSpaceNode(
  known: SpaceNode | undefined,
  event: { spaceId: SpaceId; name: string | undefined; parentSpaceId: SpaceId | undefined },
): SpaceNode {
  return {
    spaceId: event.spaceId,
    name: event.name ?? known?.name,
    parentSpaceId: event.parentSpaceId ?? known?.parentSpaceId,
  };
}
