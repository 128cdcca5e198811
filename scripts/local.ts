/**
 * `npm start`: the whole pipeline on loopback, running the same handler code as the Lambdas.
 * Starts moto_server unless AWS_ENDPOINT_URL points at an emulator already.
 *
 * With STACK_ENVIRONMENT=true, SPACELIFT_API_ENDPOINT and SPACELIFT_API_KEY_ID /
 * SPACELIFT_API_KEY_SECRET (a Spacelift API, e.g. the tests' local fake), the provisioner also
 * sets each stack's variables there: the key is stored in the local SSM like the deployed one.
 *
 * With a permissions file (PERMISSIONS_CONFIG_FILE or PERMISSIONS_CONFIG) that has `accounts`,
 * each target account gets in the emulator what infra/modules/target-account gives it (its OIDC
 * provider, boundary and vending role), and the provisioner reaches it through STS as deployed.
 */
import { randomBytes } from "node:crypto";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { ConfigurationError } from "../functions/core/errors.ts";
import {
  describeTargetAccounts,
  prepareLocalTargetAccounts,
} from "../testkit/aws/local-accounts.ts";
import { createLocalAwsResources, localClientConfig } from "../testkit/aws/local-aws.ts";
import { type MotoServer, startMotoServer } from "../testkit/aws/moto.ts";
import { startLocalPipeline } from "../testkit/lambda/local-pipeline.ts";
import { watchAncestors } from "./lib/process-lifetime.ts";

const hostname = process.env.SPACELIFT_HOSTNAME ?? "acme.app.spacelift.io";
const secret = process.env.SPACELIFT_WEBHOOK_SECRET ?? randomBytes(24).toString("hex");
const port = Number(process.env.PORT ?? "3000");

// Checked before anything starts, so a missing setting leaves nothing running behind.
const spaceliftKey = readSpaceliftKeySettings();

let moto: MotoServer | undefined;
let pipeline: Awaited<ReturnType<typeof startLocalPipeline>> | undefined;
let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await pipeline?.stop();
  await moto?.stop();
  process.exit(0);
}
// Every way of being stopped stops everything this started: Ctrl-C (SIGINT to the whole
// process group), SIGTERM or SIGHUP to this process, and npm (or whatever started it) exiting,
// which does not always pass its signal on (see watchAncestors). Registered before anything
// starts: the chain of ancestors is read now, while npm is surely alive, and a signal that
// arrives as soon as the banner is out finds its handler.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => void shutdown());
}
watchAncestors(() => void shutdown());

let endpoint = process.env.AWS_ENDPOINT_URL;
if (endpoint === undefined || endpoint === "") {
  moto = await startMotoServer();
  endpoint = moto.endpoint;
}

const resources = await createLocalAwsResources({
  endpoint,
  spaceliftHostname: hostname,
  // Local knobs: how long a failed message stays invisible, and how many receives before it
  // moves to the dead-letter queue (the deployed stack sets these in serverless.yml).
  visibilityTimeoutSeconds: Number(process.env.LOCAL_VISIBILITY_TIMEOUT_SECONDS ?? "5"),
  maxReceiveCount: Number(process.env.LOCAL_MAX_RECEIVE_COUNT ?? "5"),
  ...(process.env.PERMISSIONS_BOUNDARY_ARN && {
    permissionsBoundaryArn: process.env.PERMISSIONS_BOUNDARY_ARN,
  }),
});
Object.assign(process.env, {
  AWS_ENDPOINT_URL: endpoint,
  AWS_REGION: process.env.AWS_REGION ?? "us-east-1",
  AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? "testing",
  AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? "testing",
  AWS_ACCOUNT_ID: process.env.AWS_ACCOUNT_ID ?? "123456789012",
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? "true",
  SPACELIFT_HOSTNAME: hostname,
  SPACELIFT_WEBHOOK_SECRET: secret,
  OIDC_PROVIDER_ARN: resources.oidcProviderArn,
  PERMISSIONS_BOUNDARY_ARN: resources.permissionsBoundaryArn,
  QUEUE_URL: resources.queueUrl,
  LEDGER_TABLE: resources.ledgerTable,
});

const stackEnvironment = await storeSpaceliftApiKey(endpoint, spaceliftKey);

let targetAccounts: Awaited<ReturnType<typeof prepareLocalTargetAccounts>>;
try {
  targetAccounts = await prepareLocalTargetAccounts(process.env, { endpoint });
} catch (error) {
  // A bad permissions file: its message names the offending entry; nothing else is started.
  if (!(error instanceof ConfigurationError)) throw error;
  process.stderr.write(`${error.message}\n`);
  await moto?.stop();
  process.exit(2);
}

pipeline = await startLocalPipeline({ endpoint, queueUrl: resources.queueUrl, port });
const account = hostname.split(".")[0];
process.stdout.write(
  [
    "spacelift-role-vending is running locally.",
    `  Receiver:        ${pipeline.url}`,
    `  Webhook secret:  ${secret}`,
    `  AWS endpoint:    ${endpoint}${moto ? " (moto_server started for this run)" : ""}`,
    `  Spacelift:       ${hostname} (account ${account})`,
    `  Queue:           ${resources.queueUrl}`,
    `  Stack variables: ${stackEnvironment}`,
    `  Dead letters:    ${resources.deadLetterQueueUrl}`,
    ...describeTargetAccounts(targetAccounts, {
      receiverUrl: pipeline.url,
      secret,
      endpoint,
      spaceliftAccount: account ?? "",
    }),
    "",
    "Send a signed test event from another terminal:",
    `  RECEIVER_URL=${pipeline.url} SPACELIFT_WEBHOOK_SECRET=${secret} npm run send -- stack.create --stack payments-api --space production-01HND497T9JKR76MR3KA2CDJHP`,
    `Then read the role ARN: AWS_ENDPOINT_URL=${endpoint} aws ssm get-parameter --name /spacelift/${account}/stacks/payments-api/role-arn`,
    "Ctrl-C, SIGTERM or SIGHUP (to npm or to this program) stops everything this command started.",
    "",
  ].join("\n"),
);

interface SpaceliftKeySettings {
  readonly id: string;
  readonly secret: string;
  readonly apiEndpoint: string;
}

function readSpaceliftKeySettings(): SpaceliftKeySettings | undefined {
  if (process.env.STACK_ENVIRONMENT !== "true") return undefined;
  const id = process.env.SPACELIFT_API_KEY_ID;
  const keySecret = process.env.SPACELIFT_API_KEY_SECRET;
  const apiEndpoint = process.env.SPACELIFT_API_ENDPOINT;
  if (!id || !keySecret || !apiEndpoint) {
    process.stderr.write(
      "STACK_ENVIRONMENT=true needs SPACELIFT_API_ENDPOINT, SPACELIFT_API_KEY_ID and SPACELIFT_API_KEY_SECRET\n",
    );
    process.exit(2);
  }
  return { id, secret: keySecret, apiEndpoint };
}

/**
 * STACK_ENVIRONMENT=true: stores the API key as the parameter the provisioner reads (a
 * SecureString, as deployed). Returns what `npm start` prints about it.
 */
async function storeSpaceliftApiKey(
  awsEndpoint: string,
  key: SpaceliftKeySettings | undefined,
): Promise<string> {
  if (key === undefined) return "off (STACK_ENVIRONMENT is not true)";
  const { id, secret: keySecret, apiEndpoint } = key;
  const parameter =
    process.env.SPACELIFT_API_KEY_PARAMETER ?? "/spacelift-role-vending/spacelift-api-key";
  const ssm = new SSMClient(localClientConfig(awsEndpoint));
  await ssm.send(
    new PutParameterCommand({
      Name: parameter,
      Type: "SecureString",
      Value: JSON.stringify({ id, secret: keySecret }),
      Overwrite: true,
    }),
  );
  ssm.destroy();
  process.env.SPACELIFT_API_KEY_PARAMETER = parameter;
  return `set through ${apiEndpoint} (API key in ${parameter})`;
}
