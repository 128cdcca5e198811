/**
 * SsmParameterStore against a real moto_server: publish converges a parameter's tags like a
 * role's, so our own tags the role no longer has go (RemoveTagsFromResource) and anyone else's
 * stay.
 */
import { AddTagsToResourceCommand, PutParameterCommand } from "@aws-sdk/client-ssm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { SsmParameterStore } from "../../../functions/adapters/ssm-parameter-store.ts";
import { readParameter, testClients } from "../../../testkit/aws/clients.ts";
import { type MotoServer, startMotoServer } from "../../../testkit/aws/moto.ts";

const PARAMETER = "/spacelift/acme/stacks/payments-api/role-arn";
const WRITE_ROLE = "arn:aws:iam::123456789012:role/spacelift/spacelift-stack-payments-api-write";
const ROLE = "arn:aws:iam::123456789012:role/spacelift/spacelift-stack-payments-api";
/** The unsplit role's tags: the write role's, without its scope. */
const ROLE_TAGS = {
  "managed-by": "spacelift-role-vending",
  "spacelift:account": "acme",
  "spacelift:stack": "payments-api",
  "spacelift:space": "production-01HND497T9JKR76MR3KA2CDJHP",
};

let moto: MotoServer;
let clients: ReturnType<typeof testClients>;
let store: SsmParameterStore;

beforeAll(async () => {
  moto = await startMotoServer();
  clients = testClients(moto.endpoint);
  store = new SsmParameterStore(clients.ssm);
});

afterAll(async () => {
  await moto?.stop();
});

beforeEach(async () => {
  await moto.reset();
});

/** The write role's parameter as the split left it, plus a tag someone added by hand. */
async function publishedForTheWriteRole(): Promise<void> {
  await clients.ssm.send(
    new PutParameterCommand({
      Name: PARAMETER,
      Value: WRITE_ROLE,
      Type: "String",
      Tags: Object.entries({ ...ROLE_TAGS, "spacelift:scope": "write" }).map(([Key, Value]) => ({
        Key,
        Value,
      })),
    }),
  );
  await clients.ssm.send(
    new AddTagsToResourceCommand({
      ResourceType: "Parameter",
      ResourceId: PARAMETER,
      Tags: [{ Key: "team", Value: "payments" }],
    }),
  );
}

describe("SsmParameterStore.publish against moto", () => {
  it("removes the stale spacelift:scope tag and keeps a foreign tag", async () => {
    await publishedForTheWriteRole();

    expect(await store.publish(PARAMETER, ROLE, ROLE_TAGS)).toBe("updated");

    expect(await readParameter(clients.ssm, PARAMETER)).toEqual({
      value: ROLE,
      tags: { ...ROLE_TAGS, team: "payments" },
    });
    // Converged: publishing the same again writes nothing.
    expect(await store.publish(PARAMETER, ROLE, ROLE_TAGS)).toBe("unchanged");
  });

  it("removes it too when only the tags differ, with the value read by the caller", async () => {
    await publishedForTheWriteRole();

    expect(await store.publish(PARAMETER, WRITE_ROLE, ROLE_TAGS, { current: WRITE_ROLE })).toBe(
      "updated",
    );

    expect((await readParameter(clients.ssm, PARAMETER))?.tags).toEqual({
      ...ROLE_TAGS,
      team: "payments",
    });
  });
});
