/**
 * End to end: `npm start`'s program in a child process (its own moto_server, receiver on
 * HTTP, queue poller, provisioner), driven only through signed HTTP webhooks; assertions read
 * AWS through the SDK.
 */
import { once } from "node:events";
import { connect } from "node:net";
import { GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeQueueMessage } from "../../functions/core/queue-message.ts";
import {
  eventually,
  readParameter,
  readRole,
  subPattern,
  testClients,
} from "../../testkit/aws/clients.ts";
import { localClientConfig } from "../../testkit/aws/local-aws.ts";
import {
  E2E_WEBHOOK_SECRET,
  type LocalRun,
  type LocalRunOptions,
  startLocalRun,
  waitForParameter,
  waitForParameterGone,
} from "../../testkit/e2e-harness.ts";
import { auditEvent } from "../../testkit/spacelift/events.ts";
import {
  fixture,
  fixtureBody,
  PRODUCTION_SPACE,
  SPACELIFT_HOST,
} from "../../testkit/spacelift/fixtures.ts";

/** `npm start`'s program (or `viaNpm`, `npm start` itself) with the provisioner's INFO logs. */
const startPipeline = (env: Record<string, string> = {}, options: LocalRunOptions = {}) =>
  startLocalRun({ ...options, env: { POWERTOOLS_LOG_LEVEL: "INFO", ...env } });

describe("npm start: the local pipeline end to end", () => {
  let running: LocalRun;
  let clients: ReturnType<typeof testClients>;
  const send = (payload: unknown, secret?: string) => running.send(payload, secret);

  beforeAll(async () => {
    running = await startPipeline();
    clients = testClients(running.endpoint);
  });
  afterAll(() => running?.close());

  it("prints the receiver URL, the secret in use and how to send a test event", () => {
    expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/webhooks\/spacelift$/);
    expect(running.output()).toContain(`Webhook secret:  ${E2E_WEBHOOK_SECRET}`);
    expect(running.output()).toContain("npm run send -- stack.create");
  });

  it("turns a signed stack.create into a role and a published ARN", async () => {
    const response = await send(fixtureBody("stack.create", Date.now()));
    expect(response.status).toBe(202);
    const parameter = await waitForParameter(
      clients.ssm,
      "/spacelift/acme/stacks/payments-api/role-arn",
    );
    const role = await readRole(clients.iam, "spacelift-stack-payments-api");
    expect(parameter?.value).toBe(role?.arn);
    expect(role?.tags).toMatchObject({
      "managed-by": "spacelift-role-vending",
      "spacelift:stack": "payments-api",
    });
    expect(subPattern(role?.trust, SPACELIFT_HOST)).toBe(
      `space:${PRODUCTION_SPACE}:stack:payments-api:run_type:*:scope:*`,
    );
    // As in production, where the provisioner refuses to start without one.
    expect(role?.boundary).toBe(
      "arn:aws:iam::123456789012:policy/spacelift-role-vending/spacelift-role-vending-boundary",
    );
  });

  it("answers the refusals over HTTP and creates nothing for them", async () => {
    const hostile = fixture("stack.create", Date.now());
    hostile.data = { ...hostile.data, ID: "evil-*" };
    expect((await send(hostile)).status).toBe(400);
    expect((await send({ ...fixture("stack.create", Date.now()), account: "other" })).status).toBe(
      403,
    );
    expect(
      (await send(fixtureBody("stack.create", Date.now()), "not-the-secret-0123456")).status,
    ).toBe(401);
    expect((await send("x".repeat(256 * 1024 + 10))).status).toBe(413);
    expect((await send(fixtureBody("audit_trail_webhook.set", Date.now()))).status).toBe(200);
    // Outside the replay window: dated in 2100, or a captured body re-sent 500 days later.
    expect((await send(fixture("stack.delete", Date.UTC(2100, 0, 1)))).status).toBe(422);
    expect((await send(fixture("stack.create", Date.now() - 500 * 86_400_000))).status).toBe(422);
    expect(await readRole(clients.iam, "spacelift-stack-evil-")).toBeUndefined();
  });

  it("survives a client that sends half a body and disconnects, and answers the next request", async () => {
    const { hostname, port, pathname } = new URL(running.url);
    const socket = connect(Number(port), hostname);
    await once(socket, "connect");
    socket.write(
      `POST ${pathname} HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"action":"stack.cre`,
    );
    const closed = once(socket, "close");
    socket.destroy();
    await closed;

    const response = await send(
      auditEvent("stack.create", { account: "acme", stack: "after-abort" }),
    );
    expect(response.status).toBe(202);
    expect(running.child.exitCode).toBeNull();
  });

  it("gives a new space its role and removes it on space.delete", async () => {
    const space = "team-a-01J0000000000000000000000A";
    expect((await send(auditEvent("space.create", { account: "acme", space }))).status).toBe(202);
    await waitForParameter(clients.ssm, `/spacelift/acme/spaces/${space}/role-arn`);
    expect((await send(auditEvent("space.delete", { account: "acme", space }))).status).toBe(202);
    await eventually(
      () => readRole(clients.iam, `spacelift-space-${space}`),
      (value) => value === undefined,
    );
  });

  it("removes the role and the parameter when the stack is deleted", async () => {
    expect((await send(fixtureBody("stack.delete", Date.now()))).status).toBe(202);
    await waitForParameterGone(clients.ssm, "/spacelift/acme/stacks/payments-api/role-arn");
    expect(await readRole(clients.iam, "spacelift-stack-payments-api")).toBeUndefined();
  });

  it("stops everything it started on Ctrl-C", async () => {
    await running.close();
    expect(running.child.exitCode).toBe(0);
    await expect(fetch(`${running.endpoint}/moto-api/`)).rejects.toThrow();
    await expect(fetch(running.url, { method: "POST" })).rejects.toThrow();
  });
});

describe("npm start: a message that keeps failing", () => {
  let running: LocalRun | undefined;
  afterAll(() => running?.close());

  it("lands in the dead-letter queue after the configured receives, and publishes nothing", async () => {
    running = await startPipeline({
      DEFAULT_POLICY_ARNS: "arn:aws:iam::123456789012:policy/does-not-exist",
      LOCAL_VISIBILITY_TIMEOUT_SECONDS: "1",
      LOCAL_MAX_RECEIVE_COUNT: "2",
    });
    expect((await running.send(fixtureBody("stack.create", Date.now()))).status).toBe(202);
    const sqs = new SQSClient(localClientConfig(running.endpoint));
    const dlq = running.deadLetterQueueUrl;
    await eventually(
      async () =>
        Number(
          (
            await sqs.send(
              new GetQueueAttributesCommand({
                QueueUrl: dlq,
                AttributeNames: ["ApproximateNumberOfMessages"],
              }),
            )
          ).Attributes?.ApproximateNumberOfMessages ?? "0",
        ),
      (count) => count === 1,
      30_000,
    );
    const dead = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlq, MaxNumberOfMessages: 1 }),
    );
    expect(JSON.parse(decodeQueueMessage(dead.Messages?.[0]?.Body ?? "{}"))).toMatchObject({
      action: "stack.create",
    });
    const { ssm } = testClients(running.endpoint);
    expect(
      await readParameter(ssm, "/spacelift/acme/stacks/payments-api/role-arn"),
    ).toBeUndefined();
    sqs.destroy();
  });
});

describe("npm start: stopped through npm's own process", () => {
  let running: LocalRun | undefined;
  afterAll(() => running?.close());

  /** Both ports refuse connections: moto_server and the receiver are gone. */
  const stopped = async (target: LocalRun) => {
    const refuses = (url: string) =>
      fetch(url, { method: "POST" }).then(
        () => false,
        () => true,
      );
    return eventually(
      async () => (await refuses(`${target.endpoint}/moto-api/`)) && (await refuses(target.url)),
      (gone) => gone,
      30_000,
    );
  };

  it.each(["SIGTERM", "SIGHUP", "SIGKILL"] as const)(
    "stops moto_server and the receiver when npm alone gets %s (not its process group)",
    async (signal) => {
      running = await startPipeline({}, { viaNpm: true });
      expect(await fetch(`${running.endpoint}/moto-api/`).then((answer) => answer.ok)).toBe(true);
      const pid = running.child.pid as number;

      process.kill(pid, signal);

      expect(await stopped(running)).toBe(true);
    },
    60_000,
  );
});
