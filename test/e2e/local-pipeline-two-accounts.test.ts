/**
 * End to end, the README's local two-account run: `npm start`'s program in a child process with
 * examples/permissions.two-accounts.yaml, then `npm run send`'s program (a signed HTTP webhook)
 * for a stack in a routed space. Asserted by reading moto through the SDK, in the second
 * account too (moto keeps per-account state; AssumeRole into an account's role returns
 * credentials acting there).
 */
import { once } from "node:events";
import {
  CreateOpenIDConnectProviderCommand,
  GetOpenIDConnectProviderCommand,
  GetPolicyCommand,
  GetRoleCommand,
  type IAMClient,
  ListOpenIDConnectProvidersCommand,
} from "@aws-sdk/client-iam";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AccountClients,
  clientsInAccount,
  readRole,
  testClients,
} from "../../testkit/aws/clients.ts";
import { type MotoServer, startMotoServer } from "../../testkit/aws/moto.ts";
import {
  E2E_WEBHOOK_SECRET,
  type LocalRun,
  type LocalRunOptions,
  runSend,
  startLocalRun,
} from "../../testkit/e2e-harness.ts";
import { SPACELIFT_HOST } from "../../testkit/spacelift/fixtures.ts";

const EXAMPLE = "examples/permissions.two-accounts.yaml";
const TARGET = "222222222222";
const VENDING_ROLE = `arn:aws:iam::${TARGET}:role/spacelift-role-vending/spacelift-role-vending`;
const PROVIDER = `arn:aws:iam::${TARGET}:oidc-provider/${SPACELIFT_HOST}`;
const BOUNDARY = `arn:aws:iam::${TARGET}:policy/spacelift-role-vending/spacelift-role-vending-boundary`;

/** `npm start`'s program with the two-account example; resolves once it printed its banner, or exited. */
const startLocalRunWithExample = (env: Record<string, string>, options: LocalRunOptions = {}) =>
  startLocalRun({ mayExit: true, ...options, env: { PERMISSIONS_CONFIG_FILE: EXAMPLE, ...env } });

describe("npm start with the two-account example, then npm run send", () => {
  let running: LocalRun;
  let endpoint: string;
  let targetAccount: AccountClients;
  let target: IAMClient;

  beforeAll(async () => {
    running = await startLocalRunWithExample({}, { mayExit: false });
    endpoint = running.endpoint;
    targetAccount = await clientsInAccount(endpoint, TARGET);
    target = targetAccount.iam;
  });
  afterAll(async () => {
    targetAccount?.close();
    await running?.close();
  });

  it("sets up the target account in moto and prints its vending role, provider and boundary", async () => {
    expect(running.output()).toContain(`Account ${TARGET} (spaces production-*)`);
    expect(running.read("Vending role")).toBe(VENDING_ROLE);
    expect(running.read("OIDC provider")).toBe(PROVIDER);
    expect(running.read("Boundary")).toBe(BOUNDARY);

    const vending = await target.send(new GetRoleCommand({ RoleName: "spacelift-role-vending" }));
    expect(vending.Role?.Arn).toBe(VENDING_ROLE);
    const trust = JSON.parse(decodeURIComponent(vending.Role?.AssumeRolePolicyDocument ?? "{}"));
    expect(trust.Statement[0].Condition).toEqual({
      StringEquals: { "sts:ExternalId": "local-two-accounts" },
    });
    const provider = await target.send(
      new GetOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: PROVIDER }),
    );
    expect(provider.ClientIDList).toEqual([SPACELIFT_HOST]);
    expect((await target.send(new GetPolicyCommand({ PolicyArn: BOUNDARY }))).Policy?.Arn).toBe(
      BOUNDARY,
    );
  });

  it("gives a stack in a routed space its role in 222222222222, trusted by that account's provider", async () => {
    const example = /npm run send -- (stack\.create .* --wait)/.exec(running.output())?.[1];
    expect(example).toBe(
      "stack.create --stack orders-api --space production-01HND497T9JKR76MR3KA2CDJHP --wait",
    );

    const sent = await runSend((example ?? "").split(" "), {
      RECEIVER_URL: running.url,
      SPACELIFT_WEBHOOK_SECRET: E2E_WEBHOOK_SECRET,
      AWS_ENDPOINT_URL: endpoint,
      SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    });

    const arn = `arn:aws:iam::${TARGET}:role/spacelift/spacelift-stack-orders-api`;
    expect(sent.output).toContain(`role ${arn} (AWS account ${TARGET})`);
    expect(sent.code).toBe(0);
    const role = await readRole(target, "spacelift-stack-orders-api");
    expect(role?.arn).toBe(arn);
    expect(role?.boundary).toBe(BOUNDARY);
    expect(role?.trust.Statement[0].Principal.Federated).toBe(PROVIDER);
    expect(await readRole(testClients(endpoint).iam, "spacelift-stack-orders-api")).toBeUndefined();
  });
});

describe("npm start against an emulator where the target account is already set up", () => {
  let moto: MotoServer;
  const runs: LocalRun[] = [];

  beforeAll(async () => {
    moto = await startMotoServer();
  });
  afterAll(async () => {
    for (const run of runs) await run.close();
    await moto?.stop();
  });

  it("accepts the provider it finds, and a second start accepts everything the first set up", async () => {
    const targetAccount = await clientsInAccount(moto.endpoint, TARGET);
    const iam = targetAccount.iam;
    await iam.send(
      new CreateOpenIDConnectProviderCommand({
        Url: `https://${SPACELIFT_HOST}`,
        ClientIDList: [SPACELIFT_HOST],
        ThumbprintList: ["0000000000000000000000000000000000000000"],
      }),
    );

    for (let start = 0; start < 2; start += 1) {
      const run = await startLocalRunWithExample({ AWS_ENDPOINT_URL: moto.endpoint });
      runs.push(run);
      expect(run.child.exitCode, run.output()).toBeNull();
      expect(run.read("Vending role")).toBe(VENDING_ROLE);
      await run.close();
    }

    const providers = await iam.send(new ListOpenIDConnectProvidersCommand({}));
    expect(providers.OpenIDConnectProviderList?.map((entry) => entry.Arn)).toEqual([PROVIDER]);
    const vending = await iam.send(new GetRoleCommand({ RoleName: "spacelift-role-vending" }));
    expect(vending.Role?.Arn).toBe(VENDING_ROLE);
    targetAccount.close();
  });
});

describe("npm start with a permissions file the product refuses", () => {
  it("exits with the loader's message (code 2) before starting the receiver", async () => {
    const run = await startLocalRunWithExample({
      PERMISSIONS_CONFIG_FILE: "",
      PERMISSIONS_CONFIG: JSON.stringify({
        accounts: [
          {
            id: "123456789012",
            vendingRoleArn: "arn:aws:iam::123456789012:role/vending",
            spaces: ["production-*"],
          },
        ],
      }),
    });
    const [code] =
      run.child.exitCode === null ? await once(run.child, "exit") : [run.child.exitCode];

    expect(code).toBe(2);
    expect(run.output()).toContain("accounts[0].id: 123456789012 is the service's own account");
    expect(run.output()).not.toContain("Receiver:");
  });
});

describe("npm run send --wait with what it cannot wait for", () => {
  // Port 1 refuses connections: a post would fail with another message and exit code 1.
  const nowhere = {
    SPACELIFT_WEBHOOK_SECRET: E2E_WEBHOOK_SECRET,
    RECEIVER_URL: "http://127.0.0.1:1/x",
  };

  it.each([
    [["stack.update", "--stack", "a", "--wait"], "--wait applies to stack.create"],
    [["stack.create", "--stack", "a", "--wait", "--wait-seconds", "0"], "--wait-seconds must be"],
  ])("%j exits 2 before posting: %s", async (args, message) => {
    const sent = await runSend(args, { ...nowhere, AWS_ENDPOINT_URL: "http://127.0.0.1:1" });
    expect(sent.output).toContain(message);
    expect(sent.code).toBe(2);
  });

  it("needs AWS_ENDPOINT_URL to read the published ARN", async () => {
    const sent = await runSend(["stack.create", "--stack", "a", "--wait"], {
      ...nowhere,
      AWS_ENDPOINT_URL: "",
    });
    expect(sent.output).toContain("set AWS_ENDPOINT_URL");
    expect(sent.code).toBe(2);
  });
});
