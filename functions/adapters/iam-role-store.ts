/**
 * RoleStore over IAM. SDK exceptions are translated here: "already exists" and "no such
 * entity" become outcomes, anything else is wrapped with its cause.
 */
import {
  AttachRolePolicyCommand,
  CreateRoleCommand,
  DeleteRoleCommand,
  DeleteRolePermissionsBoundaryCommand,
  DeleteRolePolicyCommand,
  DetachRolePolicyCommand,
  EntityAlreadyExistsException,
  GetRoleCommand,
  GetRolePolicyCommand,
  type IAMClient,
  NoSuchEntityException,
  PutRolePermissionsBoundaryCommand,
  PutRolePolicyCommand,
  paginateGetAccountAuthorizationDetails,
  paginateListAttachedRolePolicies,
  paginateListRolePolicies,
  paginateListRoles,
  TagRoleCommand,
  UntagRoleCommand,
  UpdateAssumeRolePolicyCommand,
  UpdateRoleCommand,
} from "@aws-sdk/client-iam";
import { AwsCallError } from "../core/errors.ts";
import type {
  ObservedRole,
  PolicyDocument,
  RolePage,
  RoleSpec,
  RoleStore,
  Tags,
} from "../core/ports.ts";
import { assertTrustPolicyAccepted } from "../core/trust-policy-rules.ts";

export class IamRoleStore implements RoleStore {
  constructor(private readonly iam: IAMClient) {}

  async describe(name: string): Promise<ObservedRole | undefined> {
    const role = await this.call("GetRole", name, async () => {
      try {
        return (await this.iam.send(new GetRoleCommand({ RoleName: name }))).Role;
      } catch (error) {
        if (error instanceof NoSuchEntityException) return undefined;
        throw error;
      }
    });
    if (role === undefined) return undefined;
    const managedPolicyArns: string[] = [];
    const inlinePolicies: Record<string, PolicyDocument> = {};
    await this.call("ListAttachedRolePolicies", name, async () => {
      for await (const page of paginateListAttachedRolePolicies(
        { client: this.iam },
        { RoleName: name },
      )) {
        for (const policy of page.AttachedPolicies ?? []) {
          if (policy.PolicyArn) managedPolicyArns.push(policy.PolicyArn);
        }
      }
    });
    await this.call("ListRolePolicies", name, async () => {
      for await (const page of paginateListRolePolicies({ client: this.iam }, { RoleName: name })) {
        for (const policyName of page.PolicyNames ?? []) {
          const policy = await this.iam.send(
            new GetRolePolicyCommand({ RoleName: name, PolicyName: policyName }),
          );
          inlinePolicies[policyName] = decodePolicy(policy.PolicyDocument);
        }
      }
    });
    return {
      name,
      arn: role.Arn ?? "",
      path: role.Path ?? "/",
      description: role.Description ?? "",
      maxSessionDuration: role.MaxSessionDuration ?? 3600,
      trustPolicy: decodePolicy(role.AssumeRolePolicyDocument),
      permissionsBoundaryArn: role.PermissionsBoundary?.PermissionsBoundaryArn,
      managedPolicyArns: managedPolicyArns.sort(),
      inlinePolicies,
      tags: Object.fromEntries((role.Tags ?? []).map((tag) => [tag.Key ?? "", tag.Value ?? ""])),
    };
  }

  async create(spec: RoleSpec): Promise<{ arn: string } | "exists"> {
    // The one point every trust document passes before IAM: refuse what IAM would refuse.
    assertTrustPolicyAccepted(spec.trustPolicy);
    return this.call("CreateRole", spec.name, async () => {
      try {
        const created = await this.iam.send(
          new CreateRoleCommand({
            RoleName: spec.name,
            Path: spec.path,
            Description: spec.description,
            MaxSessionDuration: spec.maxSessionDuration,
            AssumeRolePolicyDocument: JSON.stringify(spec.trustPolicy),
            PermissionsBoundary: spec.permissionsBoundaryArn,
            Tags: toTagList(spec.tags),
          }),
        );
        return { arn: created.Role?.Arn ?? "" };
      } catch (error) {
        if (error instanceof EntityAlreadyExistsException) return "exists" as const;
        throw error;
      }
    });
  }

  async isReadable(name: string): Promise<boolean> {
    return this.call("GetRole", name, async () => {
      try {
        await this.iam.send(new GetRoleCommand({ RoleName: name }));
        return true;
      } catch (error) {
        if (error instanceof NoSuchEntityException) return false;
        throw error;
      }
    });
  }

  async updateTrustPolicy(name: string, document: PolicyDocument): Promise<void> {
    assertTrustPolicyAccepted(document);
    await this.call("UpdateAssumeRolePolicy", name, () =>
      this.iam.send(
        new UpdateAssumeRolePolicyCommand({
          RoleName: name,
          PolicyDocument: JSON.stringify(document),
        }),
      ),
    );
  }

  async updateSettings(
    name: string,
    settings: { description: string; maxSessionDuration: number },
  ): Promise<void> {
    await this.call("UpdateRole", name, () =>
      this.iam.send(
        new UpdateRoleCommand({
          RoleName: name,
          Description: settings.description,
          MaxSessionDuration: settings.maxSessionDuration,
        }),
      ),
    );
  }

  async putPermissionsBoundary(name: string, arn: string): Promise<void> {
    await this.call("PutRolePermissionsBoundary", name, () =>
      this.iam.send(
        new PutRolePermissionsBoundaryCommand({ RoleName: name, PermissionsBoundary: arn }),
      ),
    );
  }

  async deletePermissionsBoundary(name: string): Promise<void> {
    await this.call("DeleteRolePermissionsBoundary", name, () =>
      ignoreMissing(this.iam.send(new DeleteRolePermissionsBoundaryCommand({ RoleName: name }))),
    );
  }

  async tag(name: string, tags: Tags): Promise<void> {
    await this.call("TagRole", name, () =>
      this.iam.send(new TagRoleCommand({ RoleName: name, Tags: toTagList(tags) })),
    );
  }

  async untag(name: string, keys: readonly string[]): Promise<void> {
    await this.call("UntagRole", name, () =>
      this.iam.send(new UntagRoleCommand({ RoleName: name, TagKeys: [...keys] })),
    );
  }

  async attachPolicy(name: string, arn: string): Promise<void> {
    await this.call("AttachRolePolicy", name, () =>
      this.iam.send(new AttachRolePolicyCommand({ RoleName: name, PolicyArn: arn })),
    );
  }

  async detachPolicy(name: string, arn: string): Promise<void> {
    await this.call("DetachRolePolicy", name, () =>
      ignoreMissing(this.iam.send(new DetachRolePolicyCommand({ RoleName: name, PolicyArn: arn }))),
    );
  }

  async putInlinePolicy(name: string, policyName: string, document: PolicyDocument): Promise<void> {
    await this.call("PutRolePolicy", name, () =>
      this.iam.send(
        new PutRolePolicyCommand({
          RoleName: name,
          PolicyName: policyName,
          PolicyDocument: JSON.stringify(document),
        }),
      ),
    );
  }

  async deleteInlinePolicy(name: string, policyName: string): Promise<void> {
    await this.call("DeleteRolePolicy", name, () =>
      ignoreMissing(
        this.iam.send(new DeleteRolePolicyCommand({ RoleName: name, PolicyName: policyName })),
      ),
    );
  }

  async delete(name: string): Promise<"deleted" | "absent"> {
    return this.call("DeleteRole", name, async () => {
      try {
        await this.iam.send(new DeleteRoleCommand({ RoleName: name }));
        return "deleted" as const;
      } catch (error) {
        if (error instanceof NoSuchEntityException) return "absent" as const;
        throw error;
      }
    });
  }

  /**
   * The reconciler's inventory in bulk: ListRoles under the path (1,000 a page) for what
   * RoleDetail lacks, then GetAccountAuthorizationDetails (filter Role, 1,000 a page) for the
   * rest, instead of four reads per role. Its RoleDetail carries the trust policy, inline
   * policies, attached policies, boundary and tags, but neither Description nor
   * MaxSessionDuration, which ListRoles returns; it has no path filter, so the account's other
   * roles come back too and only their names are kept.
   * https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetAccountAuthorizationDetails.html
   * https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListRoles.html
   * Checked against moto 5.2.1: RoleDetailList holds boundary, tags, attached policies and
   * URL-encoded inline documents, but the trust policy as plain JSON (AWS URL-encodes it:
   * {@link decodePolicy} takes both); MaxItems and Marker are ignored (one page), so paging is
   * tested with a mocked client. ListRoles honours MaxItems and returns both settings.
   * A role under the path that ListRoles did not list (created in between) is reported as a
   * name elsewhere: the inventory has not seen it, and a read of it goes to IAM.
   */
  async *describeAllUnder(path: string): AsyncIterable<RolePage> {
    const settings = await this.call("ListRoles", path, async () => {
      const byName = new Map<string, { description: string; maxSessionDuration: number }>();
      const pages = paginateListRoles({ client: this.iam, pageSize: 1000 }, { PathPrefix: path });
      for await (const page of pages) {
        for (const role of page.Roles ?? []) {
          if (role.RoleName === undefined || role.Path !== path) continue;
          byName.set(role.RoleName, {
            description: role.Description ?? "",
            maxSessionDuration: role.MaxSessionDuration ?? 3600,
          });
        }
      }
      return byName;
    });
    const pages = paginateGetAccountAuthorizationDetails(
      { client: this.iam, pageSize: 1000 },
      { Filter: ["Role"] },
    );
    const iterator = pages[Symbol.asyncIterator]();
    for (;;) {
      const next = await this.call("GetAccountAuthorizationDetails", path, () => iterator.next());
      if (next.done) return;
      const roles: ObservedRole[] = [];
      const namesElsewhere: string[] = [];
      for (const detail of next.value.RoleDetailList ?? []) {
        const name = detail.RoleName;
        if (name === undefined) continue;
        const known = detail.Path === path ? settings.get(name) : undefined;
        if (known === undefined) {
          namesElsewhere.push(name);
          continue;
        }
        roles.push({
          name,
          arn: detail.Arn ?? "",
          path,
          ...known,
          trustPolicy: decodePolicy(detail.AssumeRolePolicyDocument),
          permissionsBoundaryArn: detail.PermissionsBoundary?.PermissionsBoundaryArn,
          managedPolicyArns: (detail.AttachedManagedPolicies ?? [])
            .flatMap(({ PolicyArn }) => (PolicyArn === undefined ? [] : [PolicyArn]))
            .sort(),
          inlinePolicies: Object.fromEntries(
            (detail.RolePolicyList ?? []).map(({ PolicyName, PolicyDocument }) => [
              PolicyName ?? "",
              decodePolicy(PolicyDocument),
            ]),
          ),
          tags: Object.fromEntries(
            (detail.Tags ?? []).map((tag) => [tag.Key ?? "", tag.Value ?? ""]),
          ),
        });
      }
      yield { roles, namesElsewhere };
    }
  }

  private async call<T>(operation: string, target: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw new AwsCallError(`IAM ${operation} failed for ${target}`, { cause: error });
    }
  }
}

async function ignoreMissing(call: Promise<unknown>): Promise<void> {
  try {
    await call;
  } catch (error) {
    // Already gone is what we wanted: removal is convergent.
    if (!(error instanceof NoSuchEntityException)) throw error;
  }
}

/**
 * IAM returns policy documents URL-encoded (RFC 3986, so an encoded document starts `%7B`);
 * moto 5.2's GetAccountAuthorizationDetails returns the trust policy as plain JSON.
 */
function decodePolicy(encoded: string | undefined): PolicyDocument {
  if (encoded === undefined || encoded === "") return {};
  const json = encoded.startsWith("{") ? encoded : decodeURIComponent(encoded);
  return JSON.parse(json) as PolicyDocument;
}

function toTagList(tags: Tags): { Key: string; Value: string }[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}
