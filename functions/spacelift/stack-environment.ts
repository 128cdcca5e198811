/**
 * A stack's environment variables over Spacelift's GraphQL API: the {@link StackEnvironment}
 * port. The shapes are those of Spacelift's own clients:
 * - read: `stack(id:) { config { id type value writeOnly description } }` (spacectl's
 *   `stack show` reads `config` of a stack; the element's fields are the Terraform provider's
 *   `structs.ConfigElement`: id, checksum, type, value, writeOnly, description); a stack that
 *   does not exist is `stack: null` (the provider's `resourceEnvironmentVariableReadStack`);
 * - write: `stackConfigAdd(stack: ID!, config: ConfigInput!)` with ConfigInput
 *   `{id, type: ENVIRONMENT_VARIABLE | FILE_MOUNT, value, writeOnly, description}` (the
 *   provider's `structs.ConfigInput`; spacectl's `environment setvar` uses it to replace a
 *   variable of the same id too);
 * - delete: `stackConfigDelete(stack: ID!, id: ID!)`, which returns the deleted element, or
 *   null when there was none (spacectl's `environment delete`).
 */
import * as z from "zod/mini";
import type { StackId } from "../core/identifiers.ts";
import type { StackEnvironment, StackVariable } from "../core/stack-environment.ts";
import type { SpaceliftGraphqlRequester } from "./transport.ts";
import "../core/zod-locale.ts";

const STACK_CONFIG = `query StackConfig($stack: ID!) {
  stack(id: $stack) { config { id type value writeOnly description } }
}`;

const STACK_CONFIG_ADD = `mutation StackConfigAdd($stack: ID!, $config: ConfigInput!) {
  stackConfigAdd(stack: $stack, config: $config) { id }
}`;

const STACK_CONFIG_DELETE = `mutation StackConfigDelete($stack: ID!, $id: ID!) {
  stackConfigDelete(stack: $stack, id: $id) { id }
}`;

const stackConfigSchema = z.object({
  stack: z.nullable(
    z.object({
      config: z.array(
        z.object({
          id: z.string().check(z.minLength(1)),
          type: z.string(),
          value: z.nullish(z.string()),
          writeOnly: z.boolean(),
          description: z.nullish(z.string()),
        }),
      ),
    }),
  ),
});

const stackConfigAddSchema = z.object({
  stackConfigAdd: z.object({ id: z.string() }),
});

const stackConfigDeleteSchema = z.object({
  stackConfigDelete: z.nullable(z.object({ id: z.string() })),
});

export class SpaceliftStackEnvironment implements StackEnvironment {
  readonly #client: SpaceliftGraphqlRequester;

  constructor(client: SpaceliftGraphqlRequester) {
    this.#client = client;
  }

  async list(stackId: StackId): Promise<readonly StackVariable[] | undefined> {
    const { stack } = await this.#client.request("StackConfig", STACK_CONFIG, stackConfigSchema, {
      stack: stackId,
    });
    if (stack === null) return undefined;
    // Mounted files too: they share the ids (stackConfigAdd of a variable would replace a file
    // of that id), so a file of one of our names is someone else's, never overwritten.
    return stack.config.map((element) => ({
      name: element.id,
      value:
        element.writeOnly || element.type !== "ENVIRONMENT_VARIABLE"
          ? undefined
          : (element.value ?? undefined),
      writeOnly: element.writeOnly,
      description: element.description ?? undefined,
    }));
  }

  async set(
    stackId: StackId,
    variable: { name: string; value: string; description: string },
  ): Promise<void> {
    await this.#client.request("StackConfigAdd", STACK_CONFIG_ADD, stackConfigAddSchema, {
      stack: stackId,
      config: {
        id: variable.name,
        type: "ENVIRONMENT_VARIABLE",
        value: variable.value,
        // A role ARN is no secret, and a plain value can be compared on the next converge.
        writeOnly: false,
        description: variable.description,
      },
    });
  }

  async remove(stackId: StackId, name: string): Promise<"deleted" | "absent"> {
    const { stackConfigDelete } = await this.#client.request(
      "StackConfigDelete",
      STACK_CONFIG_DELETE,
      stackConfigDeleteSchema,
      { stack: stackId, id: name },
    );
    return stackConfigDelete === null ? "absent" : "deleted";
  }
}
