/** A stack's environment in memory, for unit tests of functions/core/stack-environment.ts. */
import type { StackId } from "../../functions/core/identifiers.ts";
import type { StackEnvironment, StackVariable } from "../../functions/core/stack-environment.ts";

export class InMemoryStackEnvironment implements StackEnvironment {
  /** Variables by stack, then by name. A stack missing here does not exist in Spacelift. */
  readonly stacks = new Map<string, Map<string, StackVariable>>();
  readonly calls: string[] = [];

  addStack(stackId: string, variables: readonly StackVariable[] = []): void {
    this.stacks.set(stackId, new Map(variables.map((variable) => [variable.name, variable])));
  }

  variable(stackId: string, name: string): StackVariable | undefined {
    return this.stacks.get(stackId)?.get(name);
  }

  writes(): string[] {
    return this.calls.filter((call) => !call.startsWith("list"));
  }

  async list(stackId: StackId): Promise<readonly StackVariable[] | undefined> {
    this.calls.push(`list ${stackId}`);
    const variables = this.stacks.get(stackId);
    return variables === undefined ? undefined : [...variables.values()];
  }

  async set(
    stackId: StackId,
    variable: { name: string; value: string; description: string },
  ): Promise<void> {
    this.calls.push(`set ${stackId} ${variable.name}`);
    const variables = this.stacks.get(stackId);
    if (variable === undefined || variables === undefined) throw new Error(`no stack ${stackId}`);
    variables.set(variable.name, { ...variable, writeOnly: false });
  }

  async remove(stackId: StackId, name: string): Promise<"deleted" | "absent"> {
    this.calls.push(`remove ${stackId} ${name}`);
    return this.stacks.get(stackId)?.delete(name) === true ? "deleted" : "absent";
  }
}
