/**
 * Stores that answer reads from the inventory taken at the start of a run, until the run
 * writes: every port method is spelt out and passed through.
 */
import type {
  ObservedRole,
  ParameterStore,
  PolicyDocument,
  RolePage,
  RoleSpec,
  RoleStore,
  Tags,
} from "../ports.ts";

/**
 * Answers every read of a role from the inventory taken at the start of the run, until the run
 * writes to that role: planning a resource then costs no IAM call (IAM's read quota is shared
 * with every Terraform run in the account). The inventory saw every role of the account: a name
 * under the role path is answered from it, "not there" included (legacy names too); a name the
 * inventory saw only outside the path (`namesElsewhere`) is read from IAM, as is any name once
 * the run has written to it. A role that appears after the inventory is found by CreateRole
 * ("exists"), and converge then reads it.
 *
 * Without `namesElsewhere` (the caller did not say what lies outside the path), `isReadable`
 * of a name the inventory lacks asks IAM, as before bulk reads.
 */
export class SnapshotRoleStore implements RoleStore {
  readonly #touched = new Set<string>();

  constructor(
    private readonly inner: RoleStore,
    private readonly snapshot: ReadonlyMap<string, ObservedRole | undefined>,
    private readonly namesElsewhere?: ReadonlySet<string>,
  ) {}

  async describe(name: string): Promise<ObservedRole | undefined> {
    if (this.#readsThrough(name)) return this.inner.describe(name);
    return this.snapshot.get(name);
  }

  async isReadable(name: string): Promise<boolean> {
    if (this.#readsThrough(name)) return this.inner.isReadable(name);
    if (this.snapshot.get(name) !== undefined) return true;
    return this.namesElsewhere === undefined ? this.inner.isReadable(name) : false;
  }

  describeAllUnder(path: string): AsyncIterable<RolePage> {
    return this.inner.describeAllUnder(path);
  }

  create(spec: RoleSpec): Promise<{ arn: string } | "exists"> {
    return this.#write(spec.name, () => this.inner.create(spec));
  }

  delete(name: string): Promise<"deleted" | "absent"> {
    return this.#write(name, () => this.inner.delete(name));
  }

  updateTrustPolicy(name: string, document: PolicyDocument): Promise<void> {
    return this.#write(name, () => this.inner.updateTrustPolicy(name, document));
  }

  updateSettings(
    name: string,
    settings: { description: string; maxSessionDuration: number },
  ): Promise<void> {
    return this.#write(name, () => this.inner.updateSettings(name, settings));
  }

  putPermissionsBoundary(name: string, arn: string): Promise<void> {
    return this.#write(name, () => this.inner.putPermissionsBoundary(name, arn));
  }

  deletePermissionsBoundary(name: string): Promise<void> {
    return this.#write(name, () => this.inner.deletePermissionsBoundary(name));
  }

  tag(name: string, tags: Tags): Promise<void> {
    return this.#write(name, () => this.inner.tag(name, tags));
  }

  untag(name: string, keys: readonly string[]): Promise<void> {
    return this.#write(name, () => this.inner.untag(name, keys));
  }

  attachPolicy(name: string, arn: string): Promise<void> {
    return this.#write(name, () => this.inner.attachPolicy(name, arn));
  }

  detachPolicy(name: string, arn: string): Promise<void> {
    return this.#write(name, () => this.inner.detachPolicy(name, arn));
  }

  putInlinePolicy(name: string, policyName: string, document: PolicyDocument): Promise<void> {
    return this.#write(name, () => this.inner.putInlinePolicy(name, policyName, document));
  }

  deleteInlinePolicy(name: string, policyName: string): Promise<void> {
    return this.#write(name, () => this.inner.deleteInlinePolicy(name, policyName));
  }

  #readsThrough(name: string): boolean {
    return this.#touched.has(name) || this.namesElsewhere?.has(name) === true;
  }

  #write<T>(name: string, write: () => Promise<T>): Promise<T> {
    this.#touched.add(name);
    return write();
  }
}

/**
 * Does for parameters what {@link SnapshotRoleStore} does for roles: the inventory listed every
 * parameter under `<prefix>/<account>/` with its value, so `publish` is handed that value
 * instead of reading it again (the store still reads the parameter's tags, which say whose it
 * is; the listing does not return them). A name not listed was not there a moment ago: it is
 * created straight away, and if it has appeared since, PutParameter says so and the store reads
 * it. Once the run writes or removes a parameter, it is read afresh.
 */
export class SnapshotParameterStore implements ParameterStore {
  readonly #touched = new Set<string>();

  constructor(
    private readonly inner: ParameterStore,
    private readonly values: ReadonlyMap<string, string>,
  ) {}

  publish(
    name: string,
    value: string,
    tags: Tags,
    options: { fresh?: boolean; current?: string } = {},
  ): Promise<"created" | "updated" | "unchanged"> {
    const listed = this.values.get(name);
    const known = this.#touched.has(name)
      ? options
      : listed === undefined
        ? { ...options, fresh: true }
        : { ...options, current: listed };
    this.#touched.add(name);
    return this.inner.publish(name, value, tags, known);
  }

  remove(name: string): Promise<"deleted" | "absent"> {
    this.#touched.add(name);
    return this.inner.remove(name);
  }

  listByPath(path: string): Promise<readonly { name: string; value: string }[]> {
    return this.inner.listByPath(path);
  }
}
