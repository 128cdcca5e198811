/**
 * In-memory implementations of the core's ports, for unit tests of the core. They keep state
 * so tests assert what the world looks like afterwards, and count calls by kind.
 */
import type {
  EventQueue,
  LedgerEntry,
  ObservedRole,
  ParameterStore,
  PolicyDocument,
  ResourceLedger,
  RolePage,
  RoleSpec,
  RoleStore,
  SpaceliftResources,
  SpaceliftSpace,
  SpaceliftStack,
  SpaceQuota,
  Tags,
} from "../../functions/core/ports.ts";
import { diffTags } from "../../functions/core/role-diff.ts";
import { assertTrustPolicyAccepted } from "../../functions/core/trust-policy-rules.ts";
import {
  parseSpace,
  parseStack,
  partitionResources,
  type SpaceFields,
  type StackFields,
} from "../../functions/spacelift/resources.ts";

type MutableRole = {
  -readonly [K in keyof ObservedRole]: ObservedRole[K] extends readonly string[]
    ? string[]
    : ObservedRole[K];
};

export class InMemoryRoleStore implements RoleStore {
  readonly roles = new Map<string, MutableRole>();
  readonly calls: string[] = [];
  /** The name of each `describe` (GetRole and, when the role exists, its policy listings). */
  readonly described: string[] = [];

  writes(): string[] {
    return this.calls.filter(
      (call) => !["describe", "isReadable", "describeAllUnder"].includes(call),
    );
  }

  /** Seeds a role as if someone (us or not) had created it. */
  seed(role: Partial<ObservedRole> & { name: string }): void {
    this.roles.set(role.name, {
      arn: `arn:aws:iam::123456789012:role${role.path ?? "/"}${role.name}`,
      path: "/",
      description: "",
      maxSessionDuration: 3600,
      trustPolicy: {},
      permissionsBoundaryArn: undefined,
      managedPolicyArns: [],
      inlinePolicies: {},
      tags: {},
      ...role,
    } as MutableRole);
  }

  async describe(name: string): Promise<ObservedRole | undefined> {
    this.calls.push("describe");
    this.described.push(name);
    const role = this.roles.get(name);
    return role === undefined ? undefined : structuredClone(role);
  }
  async create(spec: RoleSpec): Promise<{ arn: string } | "exists"> {
    this.calls.push("create");
    // Like IAM (MalformedPolicyDocument), which moto does not imitate.
    assertTrustPolicyAccepted(spec.trustPolicy);
    if (this.roles.has(spec.name)) return "exists";
    const arn = `arn:aws:iam::123456789012:role${spec.path}${spec.name}`;
    this.roles.set(spec.name, {
      name: spec.name,
      arn,
      path: spec.path,
      description: spec.description,
      maxSessionDuration: spec.maxSessionDuration,
      trustPolicy: structuredClone(spec.trustPolicy),
      permissionsBoundaryArn: spec.permissionsBoundaryArn,
      managedPolicyArns: [],
      inlinePolicies: {},
      tags: { ...spec.tags },
    });
    return { arn };
  }
  async isReadable(name: string): Promise<boolean> {
    this.calls.push("isReadable");
    return this.roles.has(name);
  }
  async updateTrustPolicy(name: string, document: PolicyDocument): Promise<void> {
    assertTrustPolicyAccepted(document);
    this.role("updateTrustPolicy", name).trustPolicy = structuredClone(document);
  }
  async updateSettings(
    name: string,
    settings: { description: string; maxSessionDuration: number },
  ): Promise<void> {
    Object.assign(this.role("updateSettings", name), settings);
  }
  async putPermissionsBoundary(name: string, arn: string): Promise<void> {
    this.role("putPermissionsBoundary", name).permissionsBoundaryArn = arn;
  }
  async deletePermissionsBoundary(name: string): Promise<void> {
    this.role("deletePermissionsBoundary", name).permissionsBoundaryArn = undefined;
  }
  async tag(name: string, tags: Tags): Promise<void> {
    const role = this.role("tag", name);
    role.tags = { ...role.tags, ...tags };
  }
  async untag(name: string, keys: readonly string[]): Promise<void> {
    const role = this.role("untag", name);
    role.tags = Object.fromEntries(
      Object.entries(role.tags).filter(([key]) => !keys.includes(key)),
    );
  }
  async attachPolicy(name: string, arn: string): Promise<void> {
    const role = this.role("attachPolicy", name);
    if (!role.managedPolicyArns.includes(arn))
      role.managedPolicyArns = [...role.managedPolicyArns, arn].sort();
  }
  async detachPolicy(name: string, arn: string): Promise<void> {
    const role = this.role("detachPolicy", name);
    role.managedPolicyArns = role.managedPolicyArns.filter((attached) => attached !== arn);
  }
  async putInlinePolicy(name: string, policyName: string, document: PolicyDocument): Promise<void> {
    const role = this.role("putInlinePolicy", name);
    role.inlinePolicies = { ...role.inlinePolicies, [policyName]: structuredClone(document) };
  }
  async deleteInlinePolicy(name: string, policyName: string): Promise<void> {
    const role = this.role("deleteInlinePolicy", name);
    const { [policyName]: _removed, ...rest } = role.inlinePolicies;
    role.inlinePolicies = rest;
  }
  async delete(name: string): Promise<"deleted" | "absent"> {
    this.calls.push("delete");
    const role = this.roles.get(name);
    if (role === undefined) return "absent";
    if (role.managedPolicyArns.length > 0 || Object.keys(role.inlinePolicies).length > 0) {
      throw new Error("DeleteConflict: role still has policies");
    }
    this.roles.delete(name);
    return "deleted";
  }
  /** Like IAM's bulk read: one page (one call) for the whole account. */
  async *describeAllUnder(path: string): AsyncIterable<RolePage> {
    this.calls.push("describeAllUnder");
    const roles = [...this.roles.values()];
    yield {
      roles: roles.filter((role) => role.path === path).map((role) => structuredClone(role)),
      namesElsewhere: roles.filter((role) => role.path !== path).map(({ name }) => name),
    };
  }

  private role(call: string, name: string): MutableRole {
    this.calls.push(call);
    const role = this.roles.get(name);
    if (role === undefined) throw new Error(`NoSuchEntity: ${name}`);
    return role;
  }
}

export class InMemoryParameterStore implements ParameterStore {
  readonly parameters = new Map<string, { value: string; tags: Record<string, string> }>();
  /** Writes made: `put`, and `delete` when there was something to delete. */
  readonly calls: string[] = [];
  /** The name of each `remove`, whatever it found (SSM: a ListTagsForResource at least). */
  readonly removals: string[] = [];

  async publish(
    name: string,
    value: string,
    tags: Tags,
  ): Promise<"created" | "updated" | "unchanged"> {
    const current = this.parameters.get(name);
    if (current === undefined) {
      this.calls.push("put");
      this.parameters.set(name, { value, tags: { ...tags } });
      return "created";
    }
    // The SSM store's rule: set what differs, remove our own stale keys, keep anyone else's.
    const { set, unset } = diffTags(current.tags, tags);
    if (current.value === value && Object.keys(set).length === 0 && unset.length === 0) {
      return "unchanged";
    }
    this.calls.push("put");
    const kept = Object.entries(current.tags).filter(([key]) => !unset.includes(key));
    this.parameters.set(name, { value, tags: { ...Object.fromEntries(kept), ...set } });
    return "updated";
  }
  async remove(name: string): Promise<"deleted" | "absent"> {
    this.removals.push(name);
    if (!this.parameters.delete(name)) return "absent";
    this.calls.push("delete");
    return "deleted";
  }
  async listByPath(path: string): Promise<readonly { name: string; value: string }[]> {
    return [...this.parameters.entries()]
      .filter(([name]) => name.startsWith(`${path}/`))
      .map(([name, { value }]) => ({ name, value }));
  }
}

export class InMemoryLedger implements ResourceLedger {
  readonly entries = new Map<string, LedgerEntry>();
  async get(resource: string): Promise<LedgerEntry | undefined> {
    return this.entries.get(resource);
  }
  async record(entry: LedgerEntry): Promise<void> {
    const current = this.entries.get(entry.resource);
    // As DynamoDbLedger: never backwards, and never present again at a deletion's timestamp.
    if (
      current === undefined ||
      current.timestamp < entry.timestamp ||
      (current.timestamp === entry.timestamp &&
        (entry.state === "deleted" || current.state === "present"))
    ) {
      this.entries.set(entry.resource, entry);
    }
  }
}

/**
 * SQS's limits on a FIFO message's group and deduplication IDs, which moto does not check:
 * "The length of MessageGroupId is 128 characters. Valid values: alphanumeric characters and
 * punctuation" (same for MessageDeduplicationId),
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
 */
export const SQS_MESSAGE_ID = /^[A-Za-z0-9!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]{1,128}$/;

export class InMemoryQueue implements EventQueue {
  readonly messages: { body: string; group: string; deduplicationId: string }[] = [];
  failWith: Error | undefined;
  async enqueue(message: { body: string; group: string; deduplicationId: string }): Promise<void> {
    if (this.failWith) throw this.failWith;
    // What SQS answers with InvalidParameterValue (the receiver would answer 503 every time).
    if (!SQS_MESSAGE_ID.test(message.group) || !SQS_MESSAGE_ID.test(message.deduplicationId)) {
      throw new Error(`InvalidParameterValue: group ${message.group} or deduplication ID`);
    }
    this.messages.push(message);
  }
}

/** The DynamoDB space quota's semantics (each call atomic), with a settable clock. */
export class InMemorySpaceQuota implements SpaceQuota {
  readonly spaces = new Map<string, Map<string, number>>();
  clock = 1;

  async admit(spaceId: string, stackId: string, cap: number): Promise<"admitted" | "full"> {
    const stacks = this.spaces.get(spaceId) ?? new Map<string, number>();
    if (!stacks.has(stackId) && stacks.size >= cap) return "full";
    if (!stacks.has(stackId)) stacks.set(stackId, this.clock);
    this.spaces.set(spaceId, stacks);
    return "admitted";
  }
  async include(spaceId: string, stackId: string): Promise<void> {
    await this.admit(spaceId, stackId, Number.POSITIVE_INFINITY);
  }
  async release(
    spaceId: string,
    stackId: string,
    options: { admittedBefore?: number } = {},
  ): Promise<void> {
    const since = this.spaces.get(spaceId)?.get(stackId);
    if (since === undefined) return;
    if (options.admittedBefore !== undefined && since >= options.admittedBefore) return;
    this.spaces.get(spaceId)?.delete(stackId);
  }
  async members(spaceId: string): Promise<ReadonlyMap<string, number>> {
    return new Map(this.spaces.get(spaceId) ?? []);
  }
  /** The stacks counted in a space, sorted. */
  counted(spaceId: string): string[] {
    return [...(this.spaces.get(spaceId)?.keys() ?? [])].sort();
  }
}

/** Stacks as a directory lists them: parsed as the GraphQL client parses Spacelift's answer. */
export function listedStacks(stacks: readonly StackFields[]): SpaceliftResources<SpaceliftStack> {
  return partitionResources(stacks.map(parseStack));
}

/** Spaces as a directory lists them: parsed as the GraphQL client parses Spacelift's answer. */
export function listedSpaces(spaces: readonly SpaceFields[]): SpaceliftResources<SpaceliftSpace> {
  return partitionResources(spaces.map((space) => parseSpace(space, "as-none")));
}
