import { describe, expect, it } from "vitest";
import { loadVendingConfig, type VendingConfig } from "../../../functions/core/config.ts";
import { PolicyRenderError, SpacePathUnknownError } from "../../../functions/core/errors.ts";
import {
  isSpaceId,
  isStackId,
  type SpaceId,
  type StackId,
} from "../../../functions/core/identifiers.ts";
import { policySize, type RoleScope } from "../../../functions/core/permissions.ts";
import type { PolicyDocument, RoleSpec } from "../../../functions/core/ports.ts";
import {
  fitRoleName,
  legacySpaceRoleName,
  legacyStackRoleNames,
  ROLE_NAME_MAX_LENGTH,
  ROLE_NAME_SEPARATOR,
  spaceParameterName,
  spaceRoleName,
  stackParameterName,
  stackRoleName,
  stackRoleNames,
} from "../../../functions/core/role-names.ts";
import { assertRoleSpec, spaceBinding, stackBindings } from "../../../functions/core/role-spec.ts";
import { assertTrustPolicy, renderTrustPolicy } from "../../../functions/core/trust-policy.ts";
import { mulberry32 } from "../../../testkit/random.ts";
import { SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const PROD = "production-01HND497T9JKR76MR3KA2CDJHP" as SpaceId;
const PAYMENTS = "payments-api" as StackId;
const BOUNDARY = "arn:aws:iam::123456789012:policy/spacelift-boundary";
const PROVIDER = `arn:aws:iam::123456789012:oidc-provider/${SPACELIFT_HOST}`;
const SEGMENTS = [PROD, "stack", PAYMENTS];

function configWith(env: Record<string, string> = {}): Promise<VendingConfig> {
  return loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY: "true",
    AWS_ACCOUNT_ID: "123456789012",
    ...env,
  });
}

const stack = { stackId: PAYMENTS, spaceId: PROD, labels: [] };

/** A trust statement as the core renders it, to be broken one way at a time. */
function statement(condition: Record<string, Record<string, unknown>>): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Federated: PROVIDER },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: condition,
      },
    ],
  };
}

describe("role names", () => {
  it("keeps the .read/.write suffix visible when a long name is cut to 64 characters", () => {
    const long = "a".repeat(80);
    const write = fitRoleName(`spacelift-stack-${long}`, ".write");
    const read = fitRoleName(`spacelift-stack-${long}`, ".read");

    expect(write).toHaveLength(ROLE_NAME_MAX_LENGTH);
    expect(read.length).toBeLessThanOrEqual(ROLE_NAME_MAX_LENGTH);
    expect(write).toMatch(/^spacelift-stack-a+\.[0-9a-f]{16}\.write$/);
    expect(read).toMatch(/^spacelift-stack-a+\.[0-9a-f]{16}\.read$/);
    expect(write.slice(0, -6)).not.toBe(read.slice(0, -5));
  });

  it("names the split's roles and parameters apart from the unsplit role's", async () => {
    const config = await configWith();

    expect(stackRoleNames(config, PAYMENTS)).toEqual([
      "spacelift-stack-payments-api",
      "spacelift-stack-payments-api.write",
      "spacelift-stack-payments-api.read",
    ]);
    expect(stackParameterName(config, PAYMENTS, "write")).toBe(
      "/spacelift/acme/stacks/payments-api/role-arn",
    );
    expect(stackParameterName(config, PAYMENTS, "read")).toBe(
      "/spacelift/acme/stacks/payments-api/read-role-arn",
    );
  });

  it("gives each stack a valid role name of at most 64 characters in every shape", async () => {
    const config = await configWith({ ROLE_NAME_PREFIX: "x".repeat(40) });
    const stackId = "s".repeat(128) as StackId;

    for (const name of stackRoleNames(config, stackId)) {
      expect(name.length).toBeLessThanOrEqual(64);
      expect(name).toMatch(/^[\w+=,.@-]+$/);
    }
    expect(new Set(stackRoleNames(config, stackId)).size).toBe(3);
    expect(stackRoleName(config, stackId, "read")).not.toBe(
      stackRoleName(config, stackId, "write"),
    );
  });

  it("with the split, gives a stack a write role for role-arn and a read role for read-role-arn", async () => {
    const bindings = stackBindings(
      await configWith({ PERMISSIONS_CONFIG: "readWriteSplit: true" }),
      stack,
    );

    expect(
      bindings.map((binding) => [binding.scope, binding.role.name, binding.parameterName]),
    ).toEqual([
      [
        "write",
        "spacelift-stack-payments-api.write",
        "/spacelift/acme/stacks/payments-api/role-arn",
      ],
      [
        "read",
        "spacelift-stack-payments-api.read",
        "/spacelift/acme/stacks/payments-api/read-role-arn",
      ],
    ]);
  });
});

/** A role's owner and scope: what a role name must identify on its own. */
interface Triple {
  readonly kind: "stack" | "space";
  readonly id: string;
  readonly scope: RoleScope;
}

const stackOf = (id: string, scope: RoleScope = "any"): Triple => ({ kind: "stack", id, scope });
const spaceOf = (id: string): Triple => ({ kind: "space", id, scope: "any" });

function nameOf(config: VendingConfig, triple: Triple): string {
  return triple.kind === "stack"
    ? stackRoleName(config, triple.id as StackId, triple.scope)
    : spaceRoleName(config, triple.id as SpaceId);
}

/** The name the scheme before this one gave the triple. */
function legacyNameOf(config: VendingConfig, triple: Triple): string {
  if (triple.kind === "space") return legacySpaceRoleName(config, triple.id as SpaceId);
  const [any, write, read] = legacyStackRoleNames(config, triple.id as StackId);
  return (triple.scope === "any" ? any : triple.scope === "write" ? write : read) as string;
}

/**
 * Every name of `triples` under `config`, checked to be a valid IAM role name; fails listing
 * each pair of distinct triples that share a name. IAM role names are unique whatever their
 * case (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html#reference_iam-quotas-names),
 * so names are compared in lower case.
 */
function collisions(config: VendingConfig, triples: readonly Triple[]): string[] {
  const seen = new Map<string, Triple>();
  const found: string[] = [];
  for (const triple of triples) {
    const name = nameOf(config, triple);
    expect(name.length).toBeLessThanOrEqual(ROLE_NAME_MAX_LENGTH);
    expect(name).toMatch(/^[\w+=,.@-]+$/);
    const key = name.toLowerCase();
    const other = seen.get(key);
    if (other !== undefined && JSON.stringify(other) !== JSON.stringify(triple)) {
      found.push(`${JSON.stringify(other)} and ${JSON.stringify(triple)} are both ${name}`);
    }
    seen.set(key, triple);
  }
  return found;
}

const SLUG_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789_-";
const ULID_CHARACTERS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

describe("role names are injective", () => {
  const long = `${"payments-platform-".repeat(5)}api`;
  const legacyCut = (id: string, suffix = "") =>
    legacyStackRoleNames(defaultConfig, id as StackId)[["", "-write", "-read"].indexOf(suffix)];
  const squatter = (legacyCut(long) ?? "").slice("spacelift-stack-".length);

  it.each<[string, Triple, Triple, boolean]>([
    ["stack foo-read and stack foo's read role", stackOf("foo-read"), stackOf("foo", "read"), true],
    [
      "stack foo-write and stack foo's write role",
      stackOf("foo-write"),
      stackOf("foo", "write"),
      true,
    ],
    [
      "stack foo-read's write role and stack foo's",
      stackOf("foo-read", "write"),
      stackOf("foo", "write"),
      false,
    ],
    ["a stack whose ID is a long stack's cut name", stackOf(squatter), stackOf(long), true],
    [
      "a stack whose ID is a long stack's cut read name",
      stackOf((legacyCut(long, "-read") ?? "").slice(16)),
      stackOf(long, "read"),
      true,
    ],
    ["a stack and a space of the same ID", stackOf("root"), spaceOf("root"), false],
    [
      "a stack and a space whose IDs differ only in case",
      stackOf("01hnd497t9jkr76mr3ka2cdjhp"),
      spaceOf("01HND497T9JKR76MR3KA2CDJHP"),
      false,
    ],
    [
      "two long stacks that share their first 60 characters",
      stackOf(`${long}-one`),
      stackOf(`${long}-two`),
      false,
    ],
    [
      "a long stack's read role and another's unsplit role",
      stackOf(`${"r".repeat(70)}-read`),
      stackOf("r".repeat(70), "read"),
      false,
    ],
  ])(
    "names %s apart (and says whether the previous scheme did)",
    (_label, a, b, collidedBefore) => {
      expect(isStackId(a.id) || isSpaceId(a.id)).toBe(true);
      expect(isStackId(b.id) || isSpaceId(b.id)).toBe(true);
      expect(nameOf(defaultConfig, a).toLowerCase()).not.toBe(
        nameOf(defaultConfig, b).toLowerCase(),
      );
      expect(legacyNameOf(defaultConfig, a) === legacyNameOf(defaultConfig, b)).toBe(
        collidedBefore,
      );
    },
  );

  it("leaves no stack or space ID that could spell another resource's suffix or hash", async () => {
    // Every ID a name could be taken apart into: nothing after the prefix of a name that has a
    // suffix or a hash is a valid ID, since the separator is in none.
    for (const config of [defaultConfig, await configWith({ ROLE_NAME_PREFIX: "acme.vend-" })]) {
      for (const name of [
        stackRoleName(config, "foo" as StackId, "read"),
        stackRoleName(config, "foo" as StackId, "write"),
        stackRoleName(config, long as StackId),
        spaceRoleName(config, `${"s".repeat(40)}-01HND497T9JKR76MR3KA2CDJHP` as SpaceId),
      ]) {
        const rest = name.slice(`${config.roleNamePrefix}stack-`.length);
        expect(rest).toContain(ROLE_NAME_SEPARATOR);
        expect(isStackId(rest) || isSpaceId(rest)).toBe(false);
      }
    }
  });

  it("gives every (kind, ID, scope) of generated adversarial IDs its own name, under several prefixes (seed 20261206)", async () => {
    const random = mulberry32(20261206);
    const pick = (characters: string) => characters[Math.floor(random() * characters.length)];
    const word = (characters: string, length: number) =>
      Array.from({ length }, () => pick(characters)).join("");
    // A few stems, so many IDs share the characters a cut name keeps and only the hash parts them.
    const stems = Array.from({ length: 6 }, () =>
      word(SLUG_CHARACTERS, 30 + Math.floor(random() * 40)),
    );
    const stackIds = new Set<string>(["foo", "read", "write", "root", "legacy", long, squatter]);
    while (stackIds.size < 1500) {
      const stem = stems[Math.floor(random() * stems.length)] ?? "";
      const id =
        `${random() < 0.7 ? stem : ""}${word(SLUG_CHARACTERS, 1 + Math.floor(random() * 60))}`.slice(
          0,
          128,
        );
      stackIds.add(id);
      // What an attacker would name a stack to meet this one's names under the old scheme.
      for (const suffix of ["-read", "-write", `-${word("0123456789abcdef", 8)}`]) {
        if (id.length + suffix.length <= 128) stackIds.add(`${id}${suffix}`);
      }
    }
    const spaceIds = new Set<string>(["root", "legacy"]);
    while (spaceIds.size < 600) {
      const ulid = word(ULID_CHARACTERS, 26);
      const slug =
        random() < 0.2
          ? ""
          : `${stems[Math.floor(random() * stems.length)]?.slice(0, Math.floor(random() * 60))}${word("abcdefghijklmnopqrstuvwxyz0123456789", 1)}-`;
      const id = `${slug.replace(/^[_-]+/, "")}${ulid}`;
      if (isSpaceId(id)) spaceIds.add(id);
      // A stack named like the space's ID in lower case.
      if (isStackId(id.toLowerCase())) stackIds.add(id.toLowerCase());
    }
    const triples: Triple[] = [
      ...[...stackIds].flatMap((id) =>
        (["any", "write", "read"] as const).map((scope) => stackOf(id, scope)),
      ),
      ...[...spaceIds].map(spaceOf),
    ];
    for (const id of stackIds) expect(isStackId(id)).toBe(true);

    for (const prefix of ["spacelift-", "", "acme.vend@", "x".repeat(40)]) {
      const config = await configWith({ ROLE_NAME_PREFIX: prefix });
      expect(collisions(config, triples)).toEqual([]);
    }
  });

  it("gives every stack and space its own parameter names", async () => {
    const config = defaultConfig;
    const ids = [
      "foo",
      "foo-read",
      "foo-write",
      "read-role-arn",
      "role-arn",
      "root",
      long,
      squatter,
    ];
    const names = new Map<string, string>();
    for (const id of ids) {
      const owned = [
        stackParameterName(config, id as StackId, "write"),
        stackParameterName(config, id as StackId, "read"),
        ...(isSpaceId(id) ? [spaceParameterName(config, id)] : []),
      ];
      for (const [index, name] of owned.entries()) {
        const owner = `${index < 2 ? "stack" : "space"} ${id} #${index}`;
        expect(names.get(name)).toBeUndefined();
        names.set(name, owner);
      }
    }
    // `any` and `write` are the same stack's one role-arn parameter, by design.
    expect(stackParameterName(config, "foo" as StackId, "any")).toBe(
      stackParameterName(config, "foo" as StackId, "write"),
    );
  });
});

const defaultConfig = await configWith();

describe("refusals: trust policies", () => {
  const config = defaultConfig;

  it("accepts what the core renders", () => {
    expect(() =>
      assertTrustPolicy(
        config,
        renderTrustPolicy(config, `space:${PROD}:stack:${PAYMENTS}:run_type:*:scope:*`),
        SEGMENTS,
      ),
    ).not.toThrow();
  });

  it.each([
    [
      "no aud condition",
      statement({ StringLike: { [`${SPACELIFT_HOST}:sub`]: `space:${PROD}:stack:${PAYMENTS}:*` } }),
      /no StringEquals acme.app.spacelift.io:aud/,
    ],
    [
      "an aud with a wildcard",
      statement({
        StringEquals: { [`${SPACELIFT_HOST}:aud`]: "*" },
        StringLike: { [`${SPACELIFT_HOST}:sub`]: `space:${PROD}:stack:${PAYMENTS}:*` },
      }),
      /aud condition/,
    ],
    [
      "aud matched with StringLike only",
      statement({
        StringLike: {
          [`${SPACELIFT_HOST}:aud`]: SPACELIFT_HOST,
          [`${SPACELIFT_HOST}:sub`]: `space:${PROD}:stack:${PAYMENTS}:*`,
        },
      }),
      /aud condition/,
    ],
    [
      "no sub condition",
      statement({ StringEquals: { [`${SPACELIFT_HOST}:aud`]: SPACELIFT_HOST } }),
      /no acme.app.spacelift.io:sub condition/,
    ],
    [
      "a wildcard inside the stack segment",
      statement({
        StringEquals: { [`${SPACELIFT_HOST}:aud`]: SPACELIFT_HOST },
        StringLike: { [`${SPACELIFT_HOST}:sub`]: `space:${PROD}:stack:payments-*:*` },
      }),
      /wildcard inside a segment/,
    ],
    [
      "a wildcard inside the space segment",
      statement({
        StringEquals: { [`${SPACELIFT_HOST}:aud`]: SPACELIFT_HOST },
        StringLike: { [`${SPACELIFT_HOST}:sub`]: `space:production-*:stack:${PAYMENTS}:*` },
      }),
      /wildcard inside a segment/,
    ],
    [
      "a sub that does not pin the stack",
      statement({
        StringEquals: { [`${SPACELIFT_HOST}:aud`]: SPACELIFT_HOST },
        StringLike: { [`${SPACELIFT_HOST}:sub`]: `space:${PROD}:*` },
      }),
      /does not pin "stack"/,
    ],
  ])("refuses a trust policy with %s", (_, document, message) => {
    expect(() => assertTrustPolicy(config, document, SEGMENTS)).toThrow(PolicyRenderError);
    expect(() => assertTrustPolicy(config, document, SEGMENTS)).toThrow(message);
  });

  it("refuses a trust policy that trusts anyone but the Spacelift OIDC provider", () => {
    const document = renderTrustPolicy(
      { ...config, oidcProviderArn: "arn:aws:iam::123456789012:root" },
      `space:${PROD}:stack:${PAYMENTS}:*`,
    );

    expect(() => assertTrustPolicy(config, document, SEGMENTS)).toThrow(
      "trust policy must trust exactly the Spacelift OIDC provider",
    );
  });

  it("refuses a trust policy over IAM's 2048-character quota before any AWS call", async () => {
    const longName = "n".repeat(120);
    const config = await configWith({
      SUBJECT_TEMPLATE:
        "space:{spaceId}:space_path:{spacePath}:{callerType}:{callerId}:run_type:{runType}:scope:{scope}",
      PERMISSIONS_CONFIG: "sessionTagging: true",
    });
    const spacePath = `/root/${Array.from({ length: 6 }, () => longName).join("/")}`;

    expect(() => stackBindings(config, { ...stack, spacePath })).toThrow(PolicyRenderError);
    expect(() => stackBindings(config, { ...stack, spacePath })).toThrow(
      /trust policy is \d+ characters, over IAM's quota of 2048/,
    );
    expect(() => stackBindings(config, { ...stack, spacePath: "/root/production" })).not.toThrow();
  });

  it("renders no {spacePath} role when the path is unknown, rather than a wider pattern", async () => {
    const config = await configWith({
      SUBJECT_TEMPLATE: "{spaceId}|{spacePath}|{callerType}:{callerId}|{runType}|{scope}",
    });

    expect(() => stackBindings(config, stack)).toThrow(SpacePathUnknownError);
    expect(() => spaceBinding(config, { spaceId: PROD })).toThrow(SpacePathUnknownError);
  });

  it("counts policy size as IAM does, without white space", () => {
    expect(policySize({ Version: "2012-10-17", Statement: [] })).toBe(
      '{"Version":"2012-10-17","Statement":[]}'.length,
    );
  });
});

const withBoundary = await configWith({
  PERMISSIONS_BOUNDARY_ARN: BOUNDARY,
  PERMISSIONS_CONFIG: "readWriteSplit: true",
});

describe("permissions boundary", () => {
  it("is on every role the core renders when configured: stack write, stack read, space", () => {
    const specs: RoleSpec[] = [
      ...stackBindings(withBoundary, stack).map((binding) => binding.role),
      spaceBinding(withBoundary, { spaceId: PROD }).role,
    ];

    expect(specs.map((spec) => spec.permissionsBoundaryArn)).toEqual([
      BOUNDARY,
      BOUNDARY,
      BOUNDARY,
    ]);
  });

  it("can come from the permissions file alone", async () => {
    const config = await configWith({ PERMISSIONS_CONFIG: `permissionsBoundaryArn: ${BOUNDARY}` });

    expect(spaceBinding(config, { spaceId: PROD }).role.permissionsBoundaryArn).toBe(BOUNDARY);
  });

  it("cannot be left off a spec when configured", () => {
    const [binding] = stackBindings(withBoundary, stack);
    if (binding === undefined) throw new Error("no binding");
    const { permissionsBoundaryArn: _dropped, ...rest } = binding.role;

    expect(() =>
      assertRoleSpec(withBoundary, { ...rest, permissionsBoundaryArn: undefined }, [
        ...SEGMENTS,
        "write",
      ]),
    ).toThrow("must carry the configured permissions boundary");
    expect(() =>
      assertRoleSpec(
        withBoundary,
        { ...rest, permissionsBoundaryArn: "arn:aws:iam::123456789012:policy/other" },
        [...SEGMENTS, "write"],
      ),
    ).toThrow("must carry the configured permissions boundary");
  });

  it("is absent when none is configured", async () => {
    expect(
      spaceBinding(await configWith(), { spaceId: PROD }).role.permissionsBoundaryArn,
    ).toBeUndefined();
  });
});
