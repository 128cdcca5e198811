/**
 * AWS SDK clients, created once per Lambda container (module scope), never per invocation.
 * Adaptive retry mode backs off on throttling and keeps a client-side rate, so a burst of
 * events slows down instead of failing. `AWS_ENDPOINT_URL` points them at an emulator locally.
 * Credentials come from the SDK's default chain, except in the Lambda bundles, where
 * serverless.yml replaces that chain with lambda-credential-provider.ts (environment variables,
 * then a container credentials endpoint: what Lambda provides).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { IAMClient } from "@aws-sdk/client-iam";
import { SQSClient } from "@aws-sdk/client-sqs";
import { SSMClient } from "@aws-sdk/client-ssm";

/**
 * Retries and timeouts shared by every client. The SDK retries throttling, 5xx, timeouts and
 * connection resets itself, up to `maxAttempts` attempts in all; what it gives up on surfaces
 * as an error and the queue redelivers the message.
 *
 * Without a request timeout the SDK's HTTP handler only warns, and waits up to its default
 * socket timeout (5 minutes of inactivity), far past the Lambda's own timeout: a hung call
 * would burn the invocation instead of being retried. With these, a hung IAM or SSM call
 * fails fast as a `TimeoutError`, which the retry strategy treats as transient.
 */
export const AWS_CLIENT_SETTINGS = {
  retryMode: "adaptive",
  maxAttempts: 8,
  requestHandler: { connectionTimeout: 3_000, requestTimeout: 10_000, throwOnRequestTimeout: true },
} as const;

let iam: IAMClient | undefined;
let ssm: SSMClient | undefined;
let sqs: SQSClient | undefined;
let dynamodb: DynamoDBClient | undefined;

// IAM is a global service whose endpoint lives in us-east-1.
export const iamClient = (): IAMClient => {
  iam ??= new IAMClient({ ...AWS_CLIENT_SETTINGS, region: "us-east-1" });
  return iam;
};
export const ssmClient = (): SSMClient => {
  ssm ??= new SSMClient(AWS_CLIENT_SETTINGS);
  return ssm;
};
export const sqsClient = (): SQSClient => {
  sqs ??= new SQSClient(AWS_CLIENT_SETTINGS);
  return sqs;
};
export const dynamodbClient = (): DynamoDBClient => {
  dynamodb ??= new DynamoDBClient(AWS_CLIENT_SETTINGS);
  return dynamodb;
};
