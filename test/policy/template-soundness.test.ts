/**
 * Subject templates, proven with the policy evaluator: for every template the product accepts
 * (the default and several custom ones, with `{spacePath}`, `{runId}` and `|`), every role it
 * renders — space roles, stack roles, read/write stack roles — admits exactly the tokens of its
 * own space or stack (and scope), and no token of any other caller of this Spacelift account.
 *
 * The callers are chosen to collide: stacks named `root`, `legacy`, `stack`, `module`, `read`,
 * `write`, `space`, like a space (`production`) or like the template's literal text
 * (`run_type`, `scope`); modules with a stack's slug; a space named `root`; and tokens from
 * spaces whose names (chosen by their admins) hold `:` and `|` and other spaces' IDs and paths.
 * The other half of the proof is the refusal list in test/unit/core/subject.test.ts; the last test
 * here shows, with the same evaluator, what the refused shapes would have admitted.
 */
import { describe, expect, it } from "vitest";
import { loadVendingConfig, type VendingConfig } from "../../functions/core/config.ts";
import type { SpaceId, StackId } from "../../functions/core/identifiers.ts";
import type { RoleSpec } from "../../functions/core/ports.ts";
import { spaceBinding, stackBindings } from "../../functions/core/role-spec.ts";
import {
  DEFAULT_SUBJECT_TEMPLATE,
  SUBJECT_PLACEHOLDERS,
  validateSubjectTemplate,
} from "../../functions/core/subject.ts";
import { assertSubjectTemplateMeetsSubRule } from "../../functions/core/trust-policy-rules.ts";
import { decide, type Run, type Token, tokenFor } from "../../testkit/policy/evaluate.ts";
import { lcgAnsiCInDoubles } from "../../testkit/random.ts";
import { SPACELIFT_HOST } from "../../testkit/spacelift/fixtures.ts";

const TEMPLATES = [
  DEFAULT_SUBJECT_TEMPLATE,
  "space:{spaceId}:space_path:{spacePath}:{callerType}:{callerId}:run_type:{runType}:scope:{scope}",
  "{spaceId}|{spacePath}|{callerType}:{callerId}|{runType}|{scope}",
  "space:{spaceId}:run:{runId}:{callerType}:{callerId}",
  "spacelift|{spaceId}|{callerType}|{callerId}|{scope}|{runType}|{runId}",
  "sub:{spaceId}:{runType}:{runId}:{spacePath}:{scope}:{callerType}:{callerId}",
  "s:{spaceId}:{callerType}:{callerId}:{scope}",
];

interface Space {
  readonly id: string;
  readonly path: string;
}

const ROOT: Space = { id: "root", path: "/root" };
const LEGACY: Space = { id: "legacy", path: "/root/legacy" };
const PROD: Space = { id: "production-01HND497T9JKR76MR3KA2CDJHP", path: "/root/production" };
const TEAM_A: Space = { id: "team-a-01J0000000000000000000000A", path: "/root/team-a" };
/** A space its admin named `root`, and one named like a stack. */
const NAMED_ROOT: Space = { id: "root-01J0000000000000000000000B", path: "/root/root" };
const NAMED_STACK: Space = {
  id: "payments-api-01J0000000000000000000000C",
  path: "/root/production/payments-api",
};
const SPACES = [ROOT, LEGACY, PROD, TEAM_A, NAMED_ROOT, NAMED_STACK];

interface Caller {
  readonly type: "stack" | "module";
  readonly id: string;
  readonly space: Space;
}

const stacks: Caller[] = [
  ["payments-api", PROD],
  ["stack", PROD],
  ["module", PROD],
  ["write", PROD],
  ["read", PROD],
  ["run_type", PROD],
  ["scope", PROD],
  ["root", TEAM_A],
  ["production", TEAM_A],
  ["legacy", ROOT],
  ["space", ROOT],
  ["root", NAMED_ROOT],
  ["payments-api", NAMED_STACK],
  ["team-a", LEGACY],
].map(([id, space]) => ({ type: "stack", id: id as string, space: space as Space }));

/** Stack IDs are unique; the same ID may name a stack in another space only in this test. */
const STACK_ROLES = stacks.filter(
  (stack, index) => stacks.findIndex((other) => other.id === stack.id) === index,
);

const modules: Caller[] = [
  { type: "module", id: "payments-api", space: PROD },
  { type: "module", id: "stack", space: PROD },
  { type: "module", id: "write", space: PROD },
  { type: "module", id: "root", space: ROOT },
];

/**
 * Spaces of this account for which no role exists here, whose admins chose names holding
 * delimiters, other spaces' IDs and paths: their runs must be admitted nowhere.
 */
const HOSTILE_SPACES: Space[] = [
  { id: "evil-01J0000000000000000000000D", path: "/root/production" },
  {
    id: "evil-01J0000000000000000000000E",
    path: `/root/x:${PROD.id}:space_path:/root/production`,
  },
  { id: "evil-01J0000000000000000000000F", path: `/root/x|${PROD.id}|/root/production|stack` },
  { id: "evil-01J0000000000000000000000G", path: "/root/x:stack:payments-api:run_type" },
];
const hostile: Caller[] = HOSTILE_SPACES.flatMap((space) =>
  ["payments-api", "stack", "root"].map((id) => ({ type: "stack" as const, id, space })),
);

const RUNS = [
  { runType: "TRACKED", scope: "write" },
  { runType: "PROPOSED", scope: "read" },
  { runType: "TRACKED", scope: "read" },
  { runType: "DESTROY", scope: "write" },
] as const;

interface Probe {
  readonly caller: Caller;
  readonly scope: "read" | "write";
  readonly token: Token;
}

function probes(config: VendingConfig): Probe[] {
  return [...stacks, ...modules, ...hostile].flatMap((caller) =>
    RUNS.map(({ runType, scope }) => {
      const run: Run = {
        spaceId: caller.space.id,
        spacePath: caller.space.path,
        callerType: caller.type,
        callerId: caller.id,
        runType,
        scope,
        runId: "01J00000000000000000000RUN",
      };
      return { caller, scope, token: tokenFor(config, run) };
    }),
  );
}

interface Vended {
  readonly name: string;
  readonly role: RoleSpec;
  /** Whose tokens it must admit. */
  readonly admits: (probe: Probe) => boolean;
}

function vendedRoles(config: VendingConfig): Vended[] {
  const spaceRoles = SPACES.map((space) => ({
    name: `space ${space.id}`,
    role: spaceBinding(config, { spaceId: space.id as SpaceId, spacePath: space.path }).role,
    admits: (probe: Probe) => probe.caller.space.id === space.id,
  }));
  const stackRoles = STACK_ROLES.flatMap((stack) =>
    stackBindings(config, {
      stackId: stack.id as StackId,
      spaceId: stack.space.id as SpaceId,
      labels: [],
      spacePath: stack.space.path,
    }).map(({ role, scope }) => ({
      name: `stack ${stack.id} (${scope})`,
      role,
      admits: (probe: Probe) =>
        probe.caller.type === "stack" &&
        probe.caller.id === stack.id &&
        probe.caller.space.id === stack.space.id &&
        (scope === "any" || probe.scope === scope),
    })),
  );
  return [...spaceRoles, ...stackRoles];
}

async function configFor(template: string, split: boolean): Promise<VendingConfig> {
  return loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    PERMISSIONS_BOUNDARY_ARN: "arn:aws:iam::123456789012:policy/spacelift-boundary",
    AWS_ACCOUNT_ID: "123456789012",
    SUBJECT_TEMPLATE: template,
    ...(split ? { PERMISSIONS_CONFIG: "readWriteSplit: true" } : {}),
  });
}

describe.each(TEMPLATES)("the roles rendered from %s", (template) => {
  // The read/write split needs {scope} in the template (the core refuses to render it without).
  const splits = template.includes("{scope}") ? [false, true] : [false];

  it.each(splits)(
    "admit only their own stack's or space's tokens (read/write split: %s)",
    async (split) => {
      // Prepare
      const config = await configFor(template, split);
      const roles = vendedRoles(config);
      const tokens = probes(config);

      // Act
      const wrong: string[] = [];
      let admitted = 0;
      let expected = 0;
      for (const probe of tokens) {
        for (const vended of roles) {
          const decision = decide(vended.role, probe.token);
          if (decision === "allow") admitted += 1;
          if (vended.admits(probe)) expected += 1;
          if ((decision === "allow") !== vended.admits(probe)) {
            wrong.push(`${decision}: ${probe.token.sub} -> ${vended.name}`);
          }
        }
      }

      // Assess: no wrong decision either way; the genuine tokens were admitted.
      expect(wrong).toEqual([]);
      expect(expected).toBeGreaterThan(0);
      expect(admitted).toBe(expected);
    },
  );
});

describe.each(TEMPLATES)("with session tagging, the roles rendered from %s", (template) => {
  it("let a run tag its session only with its own stack and space", async () => {
    // Prepare: every caller of production tags its session with each production stack's ID.
    const config = await loadVendingConfig({
      SPACELIFT_HOSTNAME: SPACELIFT_HOST,
      PERMISSIONS_BOUNDARY_ARN: "arn:aws:iam::123456789012:policy/spacelift-boundary",
      AWS_ACCOUNT_ID: "123456789012",
      SUBJECT_TEMPLATE: template,
      PERMISSIONS_CONFIG: "sessionTagging: true",
    });
    const inProd = [...stacks, ...modules].filter((caller) => caller.space === PROD);
    const stackIds = [...new Set(inProd.map((caller) => caller.id))];
    const roles = vendedRoles(config).filter(
      (vended) =>
        vended.name === `space ${PROD.id}` ||
        stacks.some(
          (stack) => stack.space === PROD && vended.name.startsWith(`stack ${stack.id} `),
        ),
    );

    // Act
    const wrong: string[] = [];
    let admitted = 0;
    for (const caller of inProd) {
      for (const tag of stackIds) {
        const token = tokenFor(
          config,
          { spaceId: PROD.id, spacePath: PROD.path, callerType: caller.type, callerId: caller.id },
          { tags: { stack: tag, space: PROD.id } },
        );
        for (const vended of roles) {
          const allowed = decide(vended.role, token) === "allow";
          if (allowed) admitted += 1;
          // Tags are allowed only for stack runs, naming the stack the token was issued to.
          const expected =
            caller.type === "stack" &&
            tag === caller.id &&
            (vended.name === `space ${PROD.id}` || vended.name === `stack ${caller.id} (any)`);
          if (allowed !== expected)
            wrong.push(`${allowed}: ${token.sub} tagged ${tag} -> ${vended.name}`);
        }
      }
    }

    // Assess
    expect(wrong).toEqual([]);
    expect(admitted).toBeGreaterThan(0);
  });
});

/**
 * Templates the configuration accepts (the validator and the sub wildcard rule), generated (seeded, so a failure reproduces): placeholders in
 * random order, repeated or not, joined by delimiter-bounded literal text.
 */
function generatedTemplates(count: number): string[] {
  const random = lcgAnsiCInDoubles(20261206);
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)] as T;
  const literals = [":", "|", ":x:", "|a|", ":stack:", ":scope:", "::", ":a|", ":/:"];
  const found = new Set<string>();
  for (let attempt = 0; attempt < 100_000 && found.size < count; attempt += 1) {
    const names = [
      "callerType",
      "callerId",
      ...Array.from({ length: Math.floor(random() * 4) }, () => pick(SUBJECT_PLACEHOLDERS)),
    ].sort(() => random() - 0.5);
    const body = names.map((name) => `{${name}}`).join(pick(literals));
    const template = `${pick(["", "space:", "s|"])}{spaceId}${pick(literals)}${body}${pick(["", ":", ":end"])}`;
    try {
      validateSubjectTemplate(template);
      assertSubjectTemplateMeetsSubRule(template);
      found.add(template);
    } catch {
      // Refused: not one of the templates this test is about.
    }
  }
  return [...found];
}

describe("generated templates the validator accepts", () => {
  const templates = generatedTemplates(12);

  it("are many and varied enough to mean something", () => {
    expect(templates).toHaveLength(12);
    expect(templates.some((template) => template.includes("{spacePath}"))).toBe(true);
    expect(templates.some((template) => template.includes("{runId}"))).toBe(true);
  });

  it.each(templates)("render roles that admit only their own tokens: %s", async (template) => {
    const wrong: string[] = [];
    for (const split of template.includes("{scope}") ? [false, true] : [false]) {
      const config = await configFor(template, split);
      const roles = vendedRoles(config);
      for (const probe of probes(config).filter((_, index) => index % 2 === 0)) {
        for (const vended of roles) {
          const allowed = decide(vended.role, probe.token) === "allow";
          if (allowed !== vended.admits(probe)) {
            wrong.push(`split ${split}: ${allowed}: ${probe.token.sub} -> ${vended.name}`);
          }
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe("what the refused template shapes would admit (why they are refused)", () => {
  /** A default-template role whose `sub` pattern is replaced by the one a refused shape renders. */
  async function roleWithPattern(pattern: string): Promise<RoleSpec> {
    const config = await configFor(DEFAULT_SUBJECT_TEMPLATE, false);
    const { role } = spaceBinding(config, { spaceId: "root" as SpaceId });
    const trust = JSON.parse(JSON.stringify(role.trustPolicy)) as {
      Statement: { Condition: { StringLike: Record<string, string> } }[];
    };
    for (const statement of trust.Statement)
      statement.Condition.StringLike[`${SPACELIFT_HOST}:sub`] = pattern;
    return { ...role, trustPolicy: trust as unknown as RoleSpec["trustPolicy"] };
  }
  const token = (sub: string): Token => ({
    host: SPACELIFT_HOST,
    sub,
    aud: SPACELIFT_HOST,
    provider: `arn:aws:iam::123456789012:oidc-provider/${SPACELIFT_HOST}`,
  });

  it.each([
    [
      "a wildcard before the first fixed value: the root space role of {runType}:{spaceId}:…",
      "*:root:*",
      `TRACKED:${TEAM_A.id}:stack:root:write`,
    ],
    [
      "no {spaceId}: production's stack role of {spacePath}|…, and team-a renamed to production",
      "/root/production|stack:web|*",
      "/root/production|stack:web|TRACKED|write",
    ],
    [
      "a {spacePath} before {spaceId}: production's space role, a space named `production:<its ID>`",
      `/root/production:${PROD.id}:*`,
      `/root/production:${PROD.id}:${TEAM_A.id}:stack:evil:TRACKED`,
    ],
    [
      "a fixed value between wildcards: stack `write` of space:{spaceId}:{runType}:{callerType}:{callerId}:{scope}:end",
      `space:${PROD.id}:*:stack:write:*`,
      `space:${PROD.id}:TRACKED:module:stack:write:end`,
    ],
  ])("%s", async (_, pattern, sub) => {
    expect(decide(await roleWithPattern(pattern), token(sub))).toBe("allow");
  });
});
