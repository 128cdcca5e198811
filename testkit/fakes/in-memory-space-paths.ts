/** An in-memory SpacePathStore, with the adapter's rule: an older record never replaces a newer one. */
import type { SpaceId } from "../../functions/core/identifiers.ts";
import type { SpaceNode, SpacePathStore } from "../../functions/core/ports.ts";

export class InMemorySpacePaths implements SpacePathStore {
  readonly nodes = new Map<string, { node: SpaceNode; timestamp: number }>();
  readonly calls: string[] = [];

  async get(spaceId: SpaceId): Promise<SpaceNode | undefined> {
    this.calls.push("get");
    return this.nodes.get(spaceId)?.node;
  }
  async put(node: SpaceNode, timestamp: number): Promise<void> {
    this.calls.push("put");
    const current = this.nodes.get(node.spaceId);
    if (current === undefined || current.timestamp <= timestamp) {
      this.nodes.set(node.spaceId, { node, timestamp });
    }
  }
  async remove(spaceId: SpaceId): Promise<void> {
    this.calls.push("remove");
    this.nodes.delete(spaceId);
  }
}
