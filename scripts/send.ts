/**
 * `npm run send -- <action> --stack <id> --space <id> [--labels a,b] [--url URL] [--secret S]
 * [--wait]`: signs a realistic Spacelift audit-trail event and posts it to the receiver.
 *
 * `--wait` (with a `*.create`, and AWS_ENDPOINT_URL pointing at the local run's emulator) then
 * waits for the role's ARN to be published in the service's account and prints it, with the AWS
 * account the role is in (a space routed to a target account: that account).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { GetParameterCommand, ParameterNotFound, SSMClient } from "@aws-sdk/client-ssm";
import { accountOfArn } from "../functions/core/iam-arns.ts";
import { isSpaceId, isStackId } from "../functions/core/identifiers.ts";
import {
  type ParameterNaming,
  spaceParameterName,
  stackParameterName,
} from "../functions/core/role-names.ts";
import { localClientConfig } from "../testkit/aws/local-aws.ts";
import {
  auditEvent,
  postDelivery,
  type ResourceAction,
  signedDelivery,
} from "../testkit/spacelift/events.ts";

const ACTIONS = [
  "stack.create",
  "stack.update",
  "stack.delete",
  "space.create",
  "space.update",
  "space.delete",
] as const;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    stack: { type: "string" },
    space: { type: "string" },
    "parent-space": { type: "string" },
    labels: { type: "string" },
    account: { type: "string" },
    url: { type: "string" },
    secret: { type: "string" },
    wait: { type: "boolean", default: false },
    "wait-seconds": { type: "string", default: "30" },
  },
});

const action = positionals[0];
if (!ACTIONS.includes(action as ResourceAction)) {
  process.stderr.write(`usage: npm run send -- <${ACTIONS.join("|")}> --stack <id> --space <id>\n`);
  process.exit(2);
}
const secret = values.secret ?? process.env.SPACELIFT_WEBHOOK_SECRET;
if (!secret) {
  process.stderr.write("set SPACELIFT_WEBHOOK_SECRET (npm start prints it) or pass --secret\n");
  process.exit(2);
}
const url = values.url ?? process.env.RECEIVER_URL ?? "http://127.0.0.1:3000/webhooks/spacelift";
const account =
  values.account ?? (process.env.SPACELIFT_HOSTNAME ?? "acme.app.spacelift.io").split(".")[0] ?? "";
const payload = auditEvent(action as ResourceAction, {
  account,
  ...(values.stack !== undefined && { stack: values.stack }),
  ...(values.space !== undefined && { space: values.space }),
  ...(values["parent-space"] !== undefined && { parentSpace: values["parent-space"] }),
  ...(values.labels !== undefined && { labels: values.labels.split(",").filter(Boolean) }),
});
const endpoint = process.env.AWS_ENDPOINT_URL ?? "";
const waitSeconds = Number(values["wait-seconds"]);
const published = values.wait ? publishedParameter() : undefined;
const result = await postDelivery(url, signedDelivery(payload, secret));
process.stdout.write(`${result.status} ${result.body}\n`);
if (result.status >= 300) process.exit(1);
if (published !== undefined) process.exit(await printPublishedRole(published));
process.exit(0);

/** With --wait: the parameter the resource's role ARN is published at; exits on bad usage. */
function publishedParameter(): string {
  const naming: ParameterNaming = {
    parameterPrefix: process.env.PARAMETER_PREFIX ?? "/spacelift",
    spaceliftAccount: account,
  };
  const fail = (problem: string): never => {
    process.stderr.write(`${problem}\n`);
    process.exit(2);
  };
  if (endpoint === "")
    fail("--wait reads the published ARN: set AWS_ENDPOINT_URL (npm start prints it)");
  if (!(waitSeconds > 0)) fail("--wait-seconds must be a positive number");
  if (action === "stack.create" && isStackId(values.stack)) {
    return stackParameterName(naming, values.stack);
  }
  if (action === "space.create" && isSpaceId(values.space)) {
    return spaceParameterName(naming, values.space);
  }
  return fail("--wait applies to stack.create --stack <id> and space.create --space <id>");
}

/** Waits for the role's ARN in the service's account; 0 once printed, 1 on time-out. */
async function printPublishedRole(name: string): Promise<number> {
  const ssm = new SSMClient(localClientConfig(endpoint, process.env.AWS_REGION));
  const deadline = Date.now() + waitSeconds * 1000;
  try {
    while (Date.now() < deadline) {
      try {
        const arn = (await ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Value;
        if (arn !== undefined) {
          const inAccount = accountOfArn(arn) ?? "?";
          process.stdout.write(`role ${arn} (AWS account ${inAccount}), published at ${name}\n`);
          return 0;
        }
      } catch (error) {
        if (!(error instanceof ParameterNotFound)) throw error;
      }
      await sleep(250);
    }
  } finally {
    ssm.destroy();
  }
  process.stderr.write(`no role ARN at ${name} after ${waitSeconds} s: see npm start's log\n`);
  return 1;
}
