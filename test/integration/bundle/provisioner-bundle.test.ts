/**
 * The provisioner as it ships: bundled and code-split with serverless.yml's esbuild options, run
 * in a fresh Node process against moto_server with a YAML permissions file — so its `yaml`
 * chunk (loaded by a dynamic import) and every other chunk it reaches are exercised as Lambda
 * would load them, from the handler's import to the role and its published ARN.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readParameter, readRole, testClients } from "../../../testkit/aws/clients.ts";
import { createLocalAwsResources } from "../../../testkit/aws/local-aws.ts";
import { type MotoServer, startMotoServer } from "../../../testkit/aws/moto.ts";
import { invokeBundledHandler } from "../../../testkit/lambda/bundled-handler.ts";
import {
  bundledInputs,
  bundleHandler,
  type HandlerBundle,
} from "../../../testkit/lambda/lambda-bundle.ts";
import { toSqsEvent } from "../../../testkit/lambda/sqs-event.ts";
import { fixtureBody, SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const ROLE = "spacelift-stack-payments-api";
const PARAMETER = "/spacelift/acme/stacks/payments-api/role-arn";

let moto: MotoServer;
let work: string;
let bundle: HandlerBundle;
let ledgerTable: string;

beforeAll(async () => {
  moto = await startMotoServer();
  ({ ledgerTable } = await createLocalAwsResources({
    endpoint: moto.endpoint,
    spaceliftHostname: SPACELIFT_HOST,
  }));
  work = mkdtempSync(join(tmpdir(), "provisioner-bundle-"));
  bundle = await bundleHandler("functions/provisioner.ts", join(work, "functions"));
  writeFileSync(
    join(work, "permissions.yml"),
    ["# as an operator writes it", "default:", "  managedPolicyArns:", `    - ${READ_ONLY}`].join(
      "\n",
    ),
  );
}, 120_000);

afterAll(async () => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
  await moto?.stop();
});

describe("the bundled provisioner", () => {
  it("keeps yaml out of what its import loads, in a chunk of its own", () => {
    const yamlChunks = Object.keys(bundle.metafile.outputs).filter((output) =>
      [...bundledInputs(bundle.metafile, [output]).keys()].some((input) =>
        input.includes("node_modules/yaml/"),
      ),
    );

    expect(yamlChunks).toHaveLength(1);
    expect(bundle.lazyBytes).toBeGreaterThan(100 * 1024);
  });

  it("reads a YAML permissions file through that chunk and vends the role it describes", async () => {
    const event = toSqsEvent(
      [
        {
          MessageId: "m-1",
          ReceiptHandle: "r-1",
          Body: fixtureBody("stack.create"),
          Attributes: { MessageGroupId: "stack:payments-api", ApproximateReceiveCount: "1" },
        },
      ],
      "https://sqs.us-east-1.amazonaws.com/123456789012/events.fifo",
    );
    const { result } = await invokeBundledHandler(
      bundle.entryFile,
      event,
      {
        AWS_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: "testing",
        AWS_SECRET_ACCESS_KEY: "testing",
        AWS_SESSION_TOKEN: "testing",
        AWS_ENDPOINT_URL: moto.endpoint,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
        POWERTOOLS_METRICS_DISABLED: "true",
        POWERTOOLS_LOG_LEVEL: "SILENT",
        SPACELIFT_HOSTNAME: SPACELIFT_HOST,
        UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY: "true",
        AWS_ACCOUNT_ID: "123456789012",
        LEDGER_TABLE: ledgerTable,
        PERMISSIONS_CONFIG_FILE: "permissions.yml",
      },
      { cwd: work },
    );

    expect(result).toEqual({ batchItemFailures: [] });
    const clients = testClients(moto.endpoint);
    const role = await readRole(clients.iam, ROLE);
    expect(role?.policies).toEqual([READ_ONLY]);
    expect((await readParameter(clients.ssm, PARAMETER))?.value).toBe(role?.arn);
  });
});
