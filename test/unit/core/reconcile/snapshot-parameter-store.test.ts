/**
 * The reconciler's view of SSM during a run: parameters its inventory listed are not read again,
 * names it did not list are created first, and whatever the run wrote is read afresh.
 */
import { describe, expect, it } from "vitest";
import type { ParameterStore, Tags } from "../../../../functions/core/ports.ts";
import { SnapshotParameterStore } from "../../../../functions/core/reconcile/snapshot-stores.ts";
import { InMemoryParameterStore } from "../../../../testkit/fakes/in-memory.ts";

const LISTED = "/spacelift/acme/stacks/listed/role-arn";
const UNLISTED = "/spacelift/acme/stacks/unlisted/role-arn";
const TAGS = { "managed-by": "spacelift-role-vending" };

/** Records the options each publish is given, then does what the in-memory store does. */
class RecordingParameterStore implements ParameterStore {
  readonly inner = new InMemoryParameterStore();
  readonly published: { name: string; options: { fresh?: boolean; current?: string } }[] = [];

  publish(
    name: string,
    value: string,
    tags: Tags,
    options: { fresh?: boolean; current?: string } = {},
  ): Promise<"created" | "updated" | "unchanged"> {
    this.published.push({ name, options });
    return this.inner.publish(name, value, tags);
  }
  remove(name: string): Promise<"deleted" | "absent"> {
    return this.inner.remove(name);
  }
  listByPath(path: string): Promise<readonly { name: string; value: string }[]> {
    return this.inner.listByPath(path);
  }
}

describe("SnapshotParameterStore", () => {
  it("hands a listed parameter's value to the store, so it is not read again", async () => {
    const store = new RecordingParameterStore();
    store.inner.parameters.set(LISTED, { value: "arn:1", tags: TAGS });
    const snapshot = new SnapshotParameterStore(store, new Map([[LISTED, "arn:1"]]));

    expect(await snapshot.publish(LISTED, "arn:1", TAGS)).toBe("unchanged");

    expect(store.published).toEqual([{ name: LISTED, options: { current: "arn:1" } }]);
  });

  it("creates a name the listing did not hold straight away", async () => {
    const store = new RecordingParameterStore();
    const snapshot = new SnapshotParameterStore(store, new Map([[LISTED, "arn:1"]]));

    expect(await snapshot.publish(UNLISTED, "arn:2", TAGS)).toBe("created");

    expect(store.published).toEqual([{ name: UNLISTED, options: { fresh: true } }]);
  });

  it("reads afresh a parameter the run has written or removed", async () => {
    const store = new RecordingParameterStore();
    store.inner.parameters.set(LISTED, { value: "arn:1", tags: TAGS });
    const snapshot = new SnapshotParameterStore(store, new Map([[LISTED, "arn:1"]]));

    await snapshot.publish(LISTED, "arn:2", TAGS);
    await snapshot.publish(LISTED, "arn:2", TAGS);
    await snapshot.publish(UNLISTED, "arn:3", TAGS);
    await snapshot.publish(UNLISTED, "arn:3", TAGS);
    await snapshot.remove(LISTED);
    await snapshot.publish(LISTED, "arn:4", TAGS);

    expect(store.published).toEqual([
      { name: LISTED, options: { current: "arn:1" } },
      { name: LISTED, options: {} },
      { name: UNLISTED, options: { fresh: true } },
      { name: UNLISTED, options: {} },
      { name: LISTED, options: {} },
    ]);
    expect(store.inner.parameters.get(LISTED)?.value).toBe("arn:4");
  });
});
