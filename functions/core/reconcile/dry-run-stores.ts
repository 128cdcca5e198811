/**
 * Stores for a dry run: reads go to AWS, writes are answered as AWS would answer them and
 * never sent. Every method of the ports is spelt out, so a new write method on a port fails
 * to compile here instead of slipping through to AWS.
 */
import type {
  ObservedRole,
  ParameterStore,
  RolePage,
  RoleSpec,
  RoleStore,
  SpaceQuota,
  SpaceRoleCap,
  Tags,
} from "../ports.ts";

export function dryRunStores(
  roles: RoleStore,
  awsAccountId: string,
  parameterValues: ReadonlyMap<string, string>,
): { roles: RoleStore; parameters: ParameterStore } {
  return {
    roles: new DryRunRoleStore(roles, awsAccountId),
    parameters: new DryRunParameterStore(parameterValues),
  };
}

class DryRunRoleStore implements RoleStore {
  readonly #created = new Map<string, ObservedRole>();
  readonly #deleted = new Set<string>();

  constructor(
    private readonly inner: RoleStore,
    private readonly accountId: string,
  ) {}

  async describe(name: string): Promise<ObservedRole | undefined> {
    if (this.#deleted.has(name)) return undefined;
    return this.#created.get(name) ?? this.inner.describe(name);
  }

  async create(spec: RoleSpec): Promise<{ arn: string } | "exists"> {
    if (await this.isReadable(spec.name)) return "exists";
    const arn = `arn:aws:iam::${this.accountId}:role${spec.path}${spec.name}`;
    this.#deleted.delete(spec.name);
    this.#created.set(spec.name, { ...spec, arn });
    return { arn };
  }

  async isReadable(name: string): Promise<boolean> {
    if (this.#deleted.has(name)) return false;
    return this.#created.has(name) || this.inner.isReadable(name);
  }

  async delete(name: string): Promise<"deleted" | "absent"> {
    const existed = await this.isReadable(name);
    this.#created.delete(name);
    this.#deleted.add(name);
    return existed ? "deleted" : "absent";
  }

  describeAllUnder(path: string): AsyncIterable<RolePage> {
    return this.inner.describeAllUnder(path);
  }

  async updateTrustPolicy(): Promise<void> {}
  async updateSettings(): Promise<void> {}
  async putPermissionsBoundary(): Promise<void> {}
  async deletePermissionsBoundary(): Promise<void> {}
  async tag(): Promise<void> {}
  async untag(): Promise<void> {}
  async attachPolicy(): Promise<void> {}
  async detachPolicy(): Promise<void> {}
  async putInlinePolicy(): Promise<void> {}
  async deleteInlinePolicy(): Promise<void> {}
}

/** Answers from the values listed at the start of the run (parameter tags are not compared). */
class DryRunParameterStore implements ParameterStore {
  readonly #values: Map<string, string>;

  constructor(values: ReadonlyMap<string, string>) {
    this.#values = new Map(values);
  }

  async publish(
    name: string,
    value: string,
    _tags: Tags,
  ): Promise<"created" | "updated" | "unchanged"> {
    const current = this.#values.get(name);
    this.#values.set(name, value);
    if (current === undefined) return "created";
    return current === value ? "unchanged" : "updated";
  }

  async remove(name: string): Promise<"deleted" | "absent"> {
    return this.#values.delete(name) ? "deleted" : "absent";
  }

  async listByPath(path: string): Promise<readonly { name: string; value: string }[]> {
    return [...this.#values]
      .filter(([name]) => name.startsWith(`${path}/`))
      .map(([name, value]) => ({ name, value }));
  }
}

/** The role cap converge goes through: a dry run reads the counts but never changes them. */
export function spaceRoleCapFor(
  cap: SpaceRoleCap | undefined,
  dryRun: boolean,
): SpaceRoleCap | undefined {
  if (cap === undefined || !dryRun) return cap;
  return { ...cap, quota: new DryRunSpaceQuota(cap.quota) };
}

/** Answers admissions from the counts as they are, plus what this dry run admitted; writes nothing. */
class DryRunSpaceQuota implements SpaceQuota {
  readonly #planned = new Map<string, Set<string>>();

  constructor(private readonly inner: SpaceQuota) {}

  async admit(spaceId: string, stackId: string, cap: number): Promise<"admitted" | "full"> {
    const members = await this.inner.members(spaceId);
    const planned = this.#planned.get(spaceId) ?? new Set<string>();
    if (members.has(stackId) || planned.has(stackId)) return "admitted";
    if (members.size + planned.size >= cap) return "full";
    this.#planned.set(spaceId, planned.add(stackId));
    return "admitted";
  }

  async include(): Promise<void> {}
  async release(): Promise<void> {}

  members(spaceId: string): Promise<ReadonlyMap<string, number>> {
    return this.inner.members(spaceId);
  }
}
