/**
 * Lambda entry point: applies queued Spacelift events to IAM and SSM (SQS FIFO source). The
 * provisioner's composition root: the environment is read here, once per container.
 */
import { composeProvisioner } from "./compose.ts";
import { composeStackEnvironment } from "./compose-stack-environment.ts";
import { createHandler } from "./handlers/provisioner.ts";

const env = process.env;
const provisioner = await composeProvisioner(env);

export const handler = createHandler({
  provisioner,
  openStackEnvironment: composeStackEnvironment(env, provisioner.config.spaceliftHostname),
});
