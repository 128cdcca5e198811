/**
 * Spacelift's OIDC `sub` claim: the account's subject template, the `sub` patterns a role's
 * trust policy matches it with, and the space paths that `{spacePath}` needs.
 *
 * A Spacelift token's `sub` is the template with every placeholder filled in, e.g.
 * `space:prod-01H…:stack:payments-api:run_type:TRACKED:scope:write`. A role fixes the
 * placeholders that name what it belongs to (space, caller type, caller, and scope for a
 * read/write role) and wildcards the ones meant to vary (`{runType}`, `{runId}`, `{scope}`).
 */
import { PolicyRenderError, SpacePathUnknownError } from "./errors.ts";
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
 * Field separators (`:`, `|`) every placeholder must touch on both sides. No stack ID, space ID,
 * caller type, scope, run type or run ID can contain them, so in a token of a known space
 * every field is delimited; only space names (in `{spacePath}`) may hold them, which is why
 * `{spaceId}` must come before any `{spacePath}`.
 */
const ENDS_WITH_DELIMITER = /[:|]$/;
const STARTS_WITH_DELIMITER = /^[:|]/;
/** What Spacelift itself accepts in a template: ≤ 1000 characters of these. */
const TEMPLATE_CHARACTERS = /^[A-Za-z0-9_:/|{}-]+$/;
const PLACEHOLDER = /(\{[a-zA-Z]+\})/;

type TemplatePart =
  | { readonly kind: "literal"; readonly text: string }
  | { readonly kind: "placeholder"; readonly name: SubjectPlaceholder };

/**
 * The placeholders each kind of role fixes; every other placeholder of the template is
 * rendered as `*`. The space role's session-tagging statement fixes what a stack role does.
 * `{spacePath}` is fixed wherever the template has it but identifies nothing on its own:
 * space names are chosen, repeated and renamed by space admins, so identity rests on the IDs.
 */
const ROLE_KINDS: readonly {
  readonly kind: string;
  readonly identity: readonly SubjectPlaceholder[];
}[] = [
  { kind: "space role", identity: ["spaceId"] },
  { kind: "stack role", identity: ["spaceId", "callerType", "callerId"] },
  { kind: "read/write stack role", identity: ["spaceId", "callerType", "callerId", "scope"] },
];

/**
 * Checks an account's subject template the way Spacelift does, plus what makes every trust
 * policy rendered from it admit only the tokens of its own stack or space (docs/security.md,
 * "Subject templates", has the argument):
 *
 * - `{spaceId}`, `{callerType}` and `{callerId}` are required (without the type, a module with
 *   a stack's slug would match the stack's role; without the space ID, roles would trust
 *   space names, which space admins choose and rename);
 * - a hard delimiter (`:` or `|`) right next to each side of every placeholder, so a fixed value
 *   or a wildcard is always a whole field;
 * - `{spaceId}` is the first placeholder. IAM's `*` also matches `:` and `|`, so a wildcard
 *   before the first fixed value lets that value match any later field of another space's
 *   token (`*:root:*` admits a stack named `root` anywhere); and a `{spacePath}` before it
 *   could carry delimiters in a space name that an attacker chose;
 * - every other placeholder a role fixes (`{callerType}`, `{callerId}`, and `{scope}` for the
 *   read/write roles) has no wildcard on one side of it, up to the template's start or its
 *   end. Between two wildcards a fixed run such as `:stack:write:` can be matched by other
 *   fields of a token of the same space (a stack or module named `stack` whose scope is
 *   `write`).
 */
export function validateSubjectTemplate(template: string): void {
  parseTemplate(template);
}

/** Refuses a template in which a role's wildcards could reach around the values it fixes. */
function assertAnchored(parts: readonly TemplatePart[]): void {
  const placeholders = parts.flatMap((part) => (part.kind === "placeholder" ? [part.name] : []));
  if (placeholders[0] !== "spaceId") {
    throw new PolicyRenderError(
      "{spaceId} must be the first placeholder of the subject template (only literal text before it): IAM's * matches ':' and '|', so a wildcard or a space name before the space ID would let other spaces' tokens match",
    );
  }
  for (const { kind, identity } of ROLE_KINDS) {
    const fixed = (name: SubjectPlaceholder) => name === "spacePath" || identity.includes(name);
    for (const [index, name] of placeholders.entries()) {
      if (!identity.includes(name)) continue;
      const anchoredToStart = placeholders.slice(0, index).every(fixed);
      const anchoredToEnd = placeholders.slice(index + 1).every(fixed);
      if (!anchoredToStart && !anchoredToEnd) {
        const before = placeholders.slice(0, index).find((other) => !fixed(other));
        const after = placeholders.slice(index + 1).find((other) => !fixed(other));
        throw new PolicyRenderError(
          `placeholder {${name}} stands between {${before}} and {${after}}, which a ${kind} renders as wildcards: IAM's * matches ':' and '|', so another caller's token could match it; put {${name}} before every varying placeholder or after all of them`,
        );
      }
    }
  }
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
  if (!names.has("spaceId")) {
    throw new PolicyRenderError(
      "subject template must contain {spaceId} ({spacePath} may be used in addition): space names, which {spacePath} is made of, are chosen and renamed by space admins",
    );
  }
  for (const [index, part] of parts.entries()) {
    if (part.kind !== "placeholder") continue;
    // The delimiter must touch the placeholder (`:{spaceId}:`, not `:x{spaceId}y:`), so each
    // fixed value and each wildcard is a whole field of the rendered pattern, which is what
    // assertSubjectPattern checks on every trust policy: a template that passes here renders.
    const before = parts[index - 1];
    const after = parts[index + 1];
    if (
      (before !== undefined &&
        !(before.kind === "literal" && ENDS_WITH_DELIMITER.test(before.text))) ||
      (after !== undefined && !(after.kind === "literal" && STARTS_WITH_DELIMITER.test(after.text)))
    ) {
      throw new PolicyRenderError(
        `placeholder {${part.name}} must be separated from its neighbours by ':' or '|' right next to it`,
      );
    }
  }
  assertAnchored(parts);
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
