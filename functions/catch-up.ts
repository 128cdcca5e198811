/**
 * Lambda entry point (scheduled): enqueues the stack and space changes Spacelift's audit trail
 * recorded since the last run. The catch-up's composition root: the environment is read here,
 * once per container.
 */
import { composeCatchUp } from "./compose-catch-up.ts";
import { createHandler } from "./handlers/catch-up.ts";

export const handler = createHandler(composeCatchUp(process.env));
