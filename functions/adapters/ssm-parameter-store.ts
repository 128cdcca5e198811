/**
 * ParameterStore over SSM: publishes role ARNs as String parameters, tagged like their roles
 * (the same tag rule as the roles: {@link diffTags}).
 */
import {
  AddTagsToResourceCommand,
  DeleteParameterCommand,
  GetParameterCommand,
  InvalidResourceId,
  ListTagsForResourceCommand,
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  paginateGetParametersByPath,
  RemoveTagsFromResourceCommand,
  type SSMClient,
} from "@aws-sdk/client-ssm";
import { AwsCallError, ForeignResourceError, PermanentEventError } from "../core/errors.ts";
import type { ParameterStore, Tags } from "../core/ports.ts";
import { diffTags } from "../core/role-diff.ts";
import { ACCOUNT_TAG, isOurParameter } from "../core/role-ownership.ts";

export class SsmParameterStore implements ParameterStore {
  constructor(private readonly ssm: SSMClient) {}

  async publish(
    name: string,
    value: string,
    tags: Tags,
    options: { fresh?: boolean; current?: string } = {},
  ): Promise<"created" | "updated" | "unchanged"> {
    return this.call("publish", name, async () => {
      if (options.fresh && (await this.create(name, value, tags))) return "created";
      const current = options.current ?? (await this.read(name));
      if (current === undefined) {
        return (await this.create(name, value, tags)) ? "created" : this.publish(name, value, tags);
      }
      // A parameter of that name that we did not create (no managed-by tag) is left as it is.
      let currentTags: Record<string, string>;
      try {
        currentTags = await this.tagsOf(name);
      } catch (error) {
        // Deleted since the caller read its value: start again from a read of our own.
        if (options.current !== undefined && isMissing(error)) {
          return this.publish(name, value, tags);
        }
        throw error;
      }
      assertOurs(name, currentTags, tags[ACCOUNT_TAG]);
      let changed = false;
      if (current !== value) {
        // SSM refuses Tags together with Overwrite: write the value, then tag separately.
        await this.ssm.send(
          new PutParameterCommand({ Name: name, Value: value, Type: "String", Overwrite: true }),
        );
        changed = true;
      }
      // Like a role's tags: set what differs, then drop our own keys the role no longer has
      // (a write role's spacelift:scope once the split is off); other people's tags stay.
      const { set, unset } = diffTags(currentTags, tags);
      if (Object.keys(set).length > 0) {
        await this.ssm.send(
          new AddTagsToResourceCommand({
            ResourceType: "Parameter",
            ResourceId: name,
            Tags: Object.entries(set).map(([Key, Value]) => ({ Key, Value })),
          }),
        );
        changed = true;
      }
      if (unset.length > 0) {
        await this.ssm.send(
          new RemoveTagsFromResourceCommand({
            ResourceType: "Parameter",
            ResourceId: name,
            TagKeys: [...unset],
          }),
        );
        changed = true;
      }
      return changed ? "updated" : "unchanged";
    });
  }

  async remove(name: string): Promise<"deleted" | "absent"> {
    return this.call("DeleteParameter", name, async () => {
      let currentTags: Record<string, string>;
      try {
        currentTags = await this.tagsOf(name);
      } catch (error) {
        if (isMissing(error)) return "absent" as const;
        throw error;
      }
      assertOurs(name, currentTags, undefined);
      try {
        await this.ssm.send(new DeleteParameterCommand({ Name: name }));
        return "deleted" as const;
      } catch (error) {
        if (error instanceof ParameterNotFound) return "absent" as const;
        throw error;
      }
    });
  }

  async listByPath(path: string): Promise<readonly { name: string; value: string }[]> {
    return this.call("GetParametersByPath", path, async () => {
      const parameters: { name: string; value: string }[] = [];
      const pages = paginateGetParametersByPath(
        { client: this.ssm },
        { Path: path, Recursive: true, MaxResults: 10 },
      );
      for await (const page of pages) {
        for (const parameter of page.Parameters ?? []) {
          if (parameter.Name && parameter.Value !== undefined) {
            parameters.push({ name: parameter.Name, value: parameter.Value });
          }
        }
      }
      return parameters;
    });
  }

  /** Creates the parameter with its tags; false when it already exists. */
  private async create(name: string, value: string, tags: Tags): Promise<boolean> {
    try {
      await this.ssm.send(
        new PutParameterCommand({
          Name: name,
          Value: value,
          Type: "String",
          Overwrite: false,
          Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ParameterAlreadyExists) return false;
      throw error;
    }
  }

  private async read(name: string): Promise<string | undefined> {
    try {
      return (await this.ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Value;
    } catch (error) {
      if (error instanceof ParameterNotFound) return undefined;
      throw error;
    }
  }

  private async tagsOf(name: string): Promise<Record<string, string>> {
    const listed = await this.ssm.send(
      new ListTagsForResourceCommand({ ResourceType: "Parameter", ResourceId: name }),
    );
    return Object.fromEntries(
      (listed.TagList ?? []).map((tag) => [tag.Key ?? "", tag.Value ?? ""]),
    );
  }

  private async call<T>(operation: string, target: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof AwsCallError || error instanceof PermanentEventError) throw error;
      throw new AwsCallError(`SSM ${operation} failed for ${target}`, { cause: error });
    }
  }
}

/** SSM answers InvalidResourceId for the tags of a parameter that does not exist. */
function isMissing(error: unknown): boolean {
  return error instanceof InvalidResourceId || error instanceof ParameterNotFound;
}

/** Refuses to write or delete a parameter this product (for this account) did not create. */
function assertOurs(name: string, tags: Tags, account: string | undefined): void {
  if (!isOurParameter(tags, account)) {
    throw new ForeignResourceError(
      `parameter ${name} exists but was not created by spacelift-role-vending; leaving it untouched`,
    );
  }
}
