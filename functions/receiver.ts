/**
 * Lambda entry point: Spacelift's audit-trail webhook, behind an HTTP API. The receiver's
 * composition root: the environment is read here, once per container.
 */
import { composeReceiver } from "./compose-receiver.ts";
import { createHandler } from "./handlers/receiver.ts";

export const handler = createHandler(composeReceiver(process.env));
