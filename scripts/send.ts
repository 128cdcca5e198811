/**
 * `npm run send -- <action> --stack <id> --space <id> [--labels a,b] [--url URL] [--secret S]`:
 * signs a realistic Spacelift audit-trail event and posts it to the receiver.
 */
import { parseArgs } from "node:util";
import {
  auditEvent,
  postDelivery,
  type ResourceAction,
  signedDelivery,
} from "./lib/spacelift-events.ts";

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
const result = await postDelivery(url, signedDelivery(payload, secret));
process.stdout.write(`${result.status} ${result.body}\n`);
process.exit(result.status < 300 ? 0 : 1);
