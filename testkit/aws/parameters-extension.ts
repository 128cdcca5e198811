/**
 * A stand-in for the AWS Parameters and Secrets Lambda Extension, which runs only inside Lambda:
 * its loopback HTTP interface (`GET /systemsmanager/parameters/get?name=…&withDecryption=true`,
 * refused without the `X-Aws-Parameters-Secrets-Token` header carrying the function's session
 * token), answered with the JSON of a real `GetParameter` call against moto_server, which is what
 * the extension relays. It records each request so tests can check what the function asked for.
 */
import { once } from "node:events";
import { createServer } from "node:http";
import { GetParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";

export interface ParametersExtensionStandIn {
  readonly port: number;
  /**
   * When set, every parameter request is answered with this status instead (what the extension
   * has been reported to answer when many functions cold-start at once: 400), after recording it.
   */
  failWith: number | undefined;
  readonly requests: {
    name: string | null;
    withDecryption: string | null;
    token: string | undefined;
  }[];
  close(): Promise<void>;
}

export async function startParametersExtension(
  ssm: SSMClient,
  sessionToken: string,
): Promise<ParametersExtensionStandIn> {
  const requests: ParametersExtensionStandIn["requests"] = [];
  const state: { failWith: number | undefined } = { failWith: undefined };
  const server = createServer(async (incoming, outgoing) => {
    const url = new URL(incoming.url ?? "/", "http://127.0.0.1");
    // Test-only: how many parameter requests have arrived so far (not recorded itself).
    if (url.pathname === "/__requests") {
      outgoing.writeHead(200, { "content-type": "application/json" });
      outgoing.end(JSON.stringify(requests.length));
      return;
    }
    const token = incoming.headers["x-aws-parameters-secrets-token"] as string | undefined;
    const name = url.searchParams.get("name");
    requests.push({ name, withDecryption: url.searchParams.get("withDecryption"), token });
    const answer = (status: number, body: string) => {
      outgoing.writeHead(status, { "content-type": "application/json" });
      outgoing.end(body);
    };
    if (incoming.method !== "GET" || url.pathname !== "/systemsmanager/parameters/get") {
      return answer(404, "not found");
    }
    if (state.failWith !== undefined) {
      return answer(state.failWith, "error getting parameter: too many concurrent requests");
    }
    if (token !== sessionToken) return answer(401, "invalid or missing token");
    if (name === null) return answer(400, "name is required");
    try {
      const result = await ssm.send(
        new GetParameterCommand({
          Name: name,
          WithDecryption: url.searchParams.get("withDecryption") === "true",
        }),
      );
      const { $metadata: _metadata, ...body } = result;
      answer(200, JSON.stringify(body));
    } catch (error) {
      answer(400, `${(error as Error).name}: ${(error as Error).message}`);
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address !== "object") throw new Error("no address");
  return {
    port: address.port,
    get failWith() {
      return state.failWith;
    },
    set failWith(status: number | undefined) {
      state.failWith = status;
    },
    requests,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}
