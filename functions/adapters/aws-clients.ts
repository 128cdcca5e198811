/**
 * AWS SDK clients, created once per Lambda container (module scope), never per invocation.
 * The receiver's SQS client is in sqs-client.ts: the receiver must not import this module,
 * whose static import of the SSM client would put it in the receiver's cold start.
 * Adaptive retry mode backs off on throttling and keeps a client-side rate, so a burst of
 * events slows down instead of failing. `AWS_ENDPOINT_URL` points them at an emulator locally.
 * Credentials come from the SDK's default chain, except in the Lambda bundles, where
 * serverless.yml replaces that chain with lambda-credential-provider.ts (environment variables,
 * then a container credentials endpoint: what Lambda provides).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { IAMClient } from "@aws-sdk/client-iam";
import { SSMClient } from "@aws-sdk/client-ssm";
import type { AwsCredentialIdentityProvider } from "@smithy/types";
import { AWS_CLIENT_SETTINGS } from "./aws-client-settings.ts";

export { AWS_CLIENT_SETTINGS } from "./aws-client-settings.ts";

let iam: IAMClient | undefined;
let ssm: SSMClient | undefined;
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
export const dynamodbClient = (): DynamoDBClient => {
  dynamodb ??= new DynamoDBClient(AWS_CLIENT_SETTINGS);
  return dynamodb;
};

/**
 * IAM and SSM clients acting in a target account on `credentials` (its vending role's
 * session); StsAccountAccess creates them once per account and container.
 */
export const accountClients = (
  _accountId: string,
  credentials: AwsCredentialIdentityProvider,
): { iam: IAMClient; ssm: SSMClient } => ({
  iam: new IAMClient({ ...AWS_CLIENT_SETTINGS, region: "us-east-1", credentials }),
  ssm: new SSMClient({ ...AWS_CLIENT_SETTINGS, credentials }),
});
