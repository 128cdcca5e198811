/**
 * The receiver's SQS client, created once per Lambda container (module scope). Apart from
 * aws-clients.ts so that the receiver's static imports reach no other SDK client: esbuild
 * places a package reachable from the entry in the chunks the cold start loads, even if only
 * a dynamic import() uses it (the SSM client of the secrets fallback).
 */
import { SQSClient } from "@aws-sdk/client-sqs";
import { AWS_CLIENT_SETTINGS } from "./aws-client-settings.ts";

let sqs: SQSClient | undefined;

export const sqsClient = (): SQSClient => {
  sqs ??= new SQSClient(AWS_CLIENT_SETTINGS);
  return sqs;
};
