/**
 * The receiver's webhook secrets, read through the Parameters and Secrets extension's loopback
 * interface: here a stand-in (testkit/aws/parameters-extension.ts) that answers with real
 * GetParameter calls against moto_server, SecureString decryption included.
 */
import { once } from "node:events";
import { createServer } from "node:http";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  extensionWebhookSecrets,
  readParameter,
  SECRETS_TTL_MS,
} from "../../../functions/adapters/parameters-extension-secrets.ts";
import { ssmParameterReader } from "../../../functions/adapters/ssm-secret-reader.ts";
import { ConfigurationError } from "../../../functions/core/errors.ts";
import { loadReceiverConfig } from "../../../functions/core/receiver-config.ts";
import { localClientConfig } from "../../../testkit/aws/local-aws.ts";
import { type MotoServer, startMotoServer } from "../../../testkit/aws/moto.ts";
import {
  type ParametersExtensionStandIn,
  startParametersExtension,
} from "../../../testkit/aws/parameters-extension.ts";

const TOKEN = "execution-role-session-token";
const CURRENT = "/spacelift-role-vending/webhook-secret";
const PREVIOUS = "/spacelift-role-vending/webhook-secret-previous";

let moto: MotoServer;
let ssm: SSMClient;
let extension: ParametersExtensionStandIn;

const put = (name: string, value: string) =>
  ssm.send(
    new PutParameterCommand({ Name: name, Value: value, Type: "SecureString", Overwrite: true }),
  );

/**
 * The fallback of tests about the extension's own path: a read that reaches SSM directly there
 * would hide what the extension answered (and, without an endpoint, try real AWS).
 */
const noFallback = async (name: string): Promise<string> => {
  throw new Error(`unexpected direct SSM read of ${name}`);
};

beforeAll(async () => {
  moto = await startMotoServer();
  ssm = new SSMClient(localClientConfig(moto.endpoint));
  extension = await startParametersExtension(ssm, TOKEN);
  // moto builds its SSM and KMS backends on first use, which can take seconds on a loaded
  // machine: longer than the receiver waits for the extension.
  await put(CURRENT, "warm-up-webhook-secret-0123456789");
  await ssm.send(new GetParameterCommand({ Name: CURRENT, WithDecryption: true }));
  // The extension stand-in then answers within the receiver's 3 s, retried while moto is slow.
  for (let attempt = 1; ; attempt += 1) {
    try {
      await readParameter({ port: extension.port, token: TOKEN }, CURRENT);
      break;
    } catch (error) {
      if (attempt === 5) throw error;
    }
  }
}, 60_000);

afterAll(async () => {
  await extension?.close();
  ssm?.destroy();
  await moto?.stop();
});

beforeEach(async () => {
  extension.requests.length = 0;
  await put(CURRENT, "current-webhook-secret-0123456789");
});

describe("extensionWebhookSecrets", () => {
  it("reads the current secret decrypted, with the session token, by its URL-encoded name", async () => {
    const secrets = extensionWebhookSecrets(
      { port: extension.port, token: TOKEN },
      { current: CURRENT, previous: undefined },
      Date.now,
      noFallback,
    );

    expect(await secrets()).toEqual(["current-webhook-secret-0123456789"]);
    expect(extension.requests).toEqual([{ name: CURRENT, withDecryption: "true", token: TOKEN }]);
  });

  it("returns the previous secret after the current one while a rotation is under way", async () => {
    await put(PREVIOUS, "previous-webhook-secret-0123456789");
    const secrets = extensionWebhookSecrets(
      { port: extension.port, token: TOKEN },
      { current: CURRENT, previous: PREVIOUS },
      Date.now,
      noFallback,
    );

    expect(await secrets()).toEqual([
      "current-webhook-secret-0123456789",
      "previous-webhook-secret-0123456789",
    ]);
  });

  it("treats a missing previous parameter as no previous secret", async () => {
    const secrets = extensionWebhookSecrets(
      { port: extension.port, token: TOKEN },
      { current: CURRENT, previous: "/spacelift-role-vending/never-created" },
      Date.now,
      noFallback,
    );

    expect(await secrets()).toEqual(["current-webhook-secret-0123456789"]);
  });

  it("keeps the secrets for a minute, then reads them again and sees a rotation", async () => {
    let clock = 1_000_000;
    const secrets = extensionWebhookSecrets(
      { port: extension.port, token: TOKEN },
      { current: CURRENT, previous: undefined },
      () => clock,
      noFallback,
    );
    await secrets();
    await put(CURRENT, "rotated-webhook-secret-0123456789");

    clock += SECRETS_TTL_MS - 1_000;
    expect(await secrets()).toEqual(["current-webhook-secret-0123456789"]);
    expect(extension.requests).toHaveLength(1);

    clock += 2_000;
    expect(await secrets()).toEqual(["rotated-webhook-secret-0123456789"]);
    expect(extension.requests).toHaveLength(2);
  });

  it("fails, naming the parameter and the answer, when the current secret cannot be read", async () => {
    const secrets = extensionWebhookSecrets(
      { port: extension.port, token: TOKEN },
      { current: "/spacelift-role-vending/absent", previous: undefined },
      Date.now,
      noFallback,
    );

    await expect(secrets()).rejects.toThrow(
      /parameters extension answered 400 for \/spacelift-role-vending\/absent: ParameterNotFound/,
    );
  });

  it("never accepts a placeholder as a secret: a short previous secret is ignored, a short current one fails", async () => {
    // Attack: an operator who keeps the previous-secret parameter between rotations with a
    // placeholder ("none"): anyone could sign events with it. Secrets from the environment must
    // have 16 characters; the parameters now must too.
    await put(PREVIOUS, "none");
    const withPlaceholder = extensionWebhookSecrets(
      { port: extension.port, token: TOKEN },
      { current: CURRENT, previous: PREVIOUS },
      Date.now,
      noFallback,
    );
    const accepted = await withPlaceholder();
    await put(CURRENT, "changeme");
    const shortCurrent = extensionWebhookSecrets(
      { port: extension.port, token: TOKEN },
      { current: CURRENT, previous: undefined },
      Date.now,
      noFallback,
    );

    expect(accepted).toEqual(["current-webhook-secret-0123456789"]);
    await expect(shortCurrent()).rejects.toThrow(
      `webhook secret parameter ${CURRENT} holds fewer than 16 characters`,
    );
  });

  it("fails on an empty secret rather than verifying against nothing", async () => {
    const secrets = extensionWebhookSecrets(
      { port: extension.port, token: TOKEN },
      { current: CURRENT, previous: undefined },
      Date.now,
      noFallback,
    );
    // The stand-in answers what the extension would for a parameter with no Value.
    const empty = createServer((_incoming, outgoing) => {
      outgoing.writeHead(200, { "content-type": "application/json" });
      outgoing.end(JSON.stringify({ Parameter: { Name: CURRENT, Value: "" } }));
    });
    empty.listen(0, "127.0.0.1");
    await once(empty, "listening");
    const port = (empty.address() as { port: number }).port;
    try {
      await expect(
        extensionWebhookSecrets(
          { port, token: TOKEN },
          { current: CURRENT, previous: undefined },
          Date.now,
          noFallback,
        )(),
      ).rejects.toThrow(`webhook secret parameter ${CURRENT} is empty`);
    } finally {
      empty.close();
    }
    expect(await secrets()).toEqual(["current-webhook-secret-0123456789"]);
  });

  it("is refused by the extension without the function's session token", async () => {
    await expect(readParameter({ port: extension.port, token: "wrong" }, CURRENT)).rejects.toThrow(
      /answered 401/,
    );
  });

  it("fails promptly when no extension listens on the port", async () => {
    const closed = createServer();
    closed.listen(0, "127.0.0.1");
    await once(closed, "listening");
    const port = (closed.address() as { port: number }).port;
    closed.close();
    await once(closed, "close");

    await expect(readParameter({ port, token: TOKEN }, CURRENT)).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe("when the extension fails to answer", () => {
  /** The real fallback reader, on a moto-backed SSM client, counting its reads. */
  const countingSsm = () => {
    const names: string[] = [];
    const read = ssmParameterReader(ssm);
    return {
      names,
      read: (name: string) => {
        names.push(name);
        return read(name);
      },
    };
  };

  it.each([400, 500, 502, 503])(
    "reads the secrets with SSM GetParameter directly when it answers %i",
    async (status) => {
      await put(PREVIOUS, "previous-webhook-secret-0123456789");
      extension.failWith = status;
      const fallback = countingSsm();
      const secrets = extensionWebhookSecrets(
        { port: extension.port, token: TOKEN },
        { current: CURRENT, previous: PREVIOUS },
        Date.now,
        fallback.read,
      );

      try {
        expect(await secrets()).toEqual([
          "current-webhook-secret-0123456789",
          "previous-webhook-secret-0123456789",
        ]);
      } finally {
        extension.failWith = undefined;
      }
      expect(extension.requests.map((request) => request.name)).toEqual([CURRENT, PREVIOUS]);
      expect(fallback.names).toEqual([CURRENT, PREVIOUS]);
    },
  );

  it("reads them with SSM directly when nothing listens on the extension's port", async () => {
    const closed = createServer();
    closed.listen(0, "127.0.0.1");
    await once(closed, "listening");
    const port = (closed.address() as { port: number }).port;
    closed.close();
    await once(closed, "close");
    const fallback = countingSsm();

    const secrets = extensionWebhookSecrets(
      { port, token: TOKEN },
      { current: CURRENT, previous: undefined },
      Date.now,
      fallback.read,
    );

    expect(await secrets()).toEqual(["current-webhook-secret-0123456789"]);
    expect(fallback.names).toEqual([CURRENT]);
  });

  it("does not fall back when the extension answers that the parameter does not exist", async () => {
    const fallback = countingSsm();
    const secrets = extensionWebhookSecrets(
      { port: extension.port, token: TOKEN },
      { current: CURRENT, previous: "/spacelift-role-vending/never-created" },
      Date.now,
      fallback.read,
    );

    expect(await secrets()).toEqual(["current-webhook-secret-0123456789"]);
    expect(fallback.names).toEqual([]);
  });

  it("fails naming both answers when SSM cannot be read either", async () => {
    extension.failWith = 400;
    const secrets = extensionWebhookSecrets(
      { port: extension.port, token: TOKEN },
      { current: "/spacelift-role-vending/absent", previous: undefined },
      Date.now,
      ssmParameterReader(ssm),
    );

    try {
      await expect(secrets()).rejects.toThrow(
        /parameters extension answered 400 for \/spacelift-role-vending\/absent.*; direct SSM read failed too: SSM GetParameter failed for \/spacelift-role-vending\/absent: ParameterNotFound/,
      );
    } finally {
      extension.failWith = undefined;
    }
  });

  it("still sees a rotated secret within the receiver's minute when every read falls back", async () => {
    let clock = 1_000_000;
    extension.failWith = 400;
    const fallback = countingSsm();
    const secrets = extensionWebhookSecrets(
      { port: extension.port, token: TOKEN },
      { current: CURRENT, previous: undefined },
      () => clock,
      fallback.read,
    );
    try {
      expect(await secrets()).toEqual(["current-webhook-secret-0123456789"]);
      await put(CURRENT, "rotated-webhook-secret-0123456789");

      clock += SECRETS_TTL_MS - 1_000;
      expect(await secrets()).toEqual(["current-webhook-secret-0123456789"]);

      clock += 2_000;
      expect(await secrets()).toEqual(["rotated-webhook-secret-0123456789"]);
    } finally {
      extension.failWith = undefined;
    }
    // Well inside the 5 minutes docs/deploy.md promises (extension TTL + the receiver's minute).
    expect(SECRETS_TTL_MS).toBeLessThanOrEqual(5 * 60 * 1000);
    expect(fallback.names).toEqual([CURRENT, CURRENT]);
  });
});

describe("the receiver's configuration for the extension", () => {
  const base = {
    QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/events.fifo",
    WEBHOOK_SECRET_PARAMETER: CURRENT,
  };

  it("uses the extension's default port and the session token Lambda sets", () => {
    expect(loadReceiverConfig({ ...base, AWS_SESSION_TOKEN: TOKEN }).secrets).toEqual({
      source: "extension",
      current: CURRENT,
      previous: undefined,
      extension: { port: 2773, token: TOKEN },
    });
  });

  it("follows PARAMETERS_SECRETS_EXTENSION_HTTP_PORT, the variable the extension itself reads", () => {
    expect(
      loadReceiverConfig({
        ...base,
        AWS_SESSION_TOKEN: TOKEN,
        PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: "2999",
      }).secrets,
    ).toMatchObject({ extension: { port: 2999 } });
  });

  it("refuses to start without a session token, which the extension requires", () => {
    expect(() => loadReceiverConfig(base)).toThrow(ConfigurationError);
    expect(() => loadReceiverConfig(base)).toThrow(/AWS_SESSION_TOKEN/);
  });

  it("refuses a port that is not one", () => {
    expect(() =>
      loadReceiverConfig({
        ...base,
        AWS_SESSION_TOKEN: TOKEN,
        PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: "70000",
      }),
    ).toThrow(/PARAMETERS_SECRETS_EXTENSION_HTTP_PORT/);
  });
});
