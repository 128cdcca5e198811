/**
 * Lambda entry point (scheduled): reconciles the vended roles and parameters with Spacelift's
 * API. The reconciler's composition root: the environment is read here, once per container.
 */
import { composeReconciler } from "./compose.ts";
import { createHandler } from "./handlers/reconciler.ts";

export const handler = createHandler(await composeReconciler(process.env));
