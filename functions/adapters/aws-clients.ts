/**
 * AWS SDK clients, created once per Lambda container (module scope), never per invocation.
 * Adaptive retry mode backs off on throttling and keeps a client-side rate, so a burst of
 * events slows down instead of failing. `AWS_ENDPOINT_URL` points them at an emulator locally.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { IAMClient } from "@aws-sdk/client-iam";
import { SQSClient } from "@aws-sdk/client-sqs";
import { SSMClient } from "@aws-sdk/client-ssm";

const common = { retryMode: "adaptive", maxAttempts: 8 } as const;

let iam: IAMClient | undefined;
let ssm: SSMClient | undefined;
let sqs: SQSClient | undefined;
let dynamodb: DynamoDBClient | undefined;

// IAM is a global service whose endpoint lives in us-east-1.
export const iamClient = (): IAMClient => {
  iam ??= new IAMClient({ ...common, region: "us-east-1" });
  return iam;
};
export const ssmClient = (): SSMClient => {
  ssm ??= new SSMClient(common);
  return ssm;
};
export const sqsClient = (): SQSClient => {
  sqs ??= new SQSClient(common);
  return sqs;
};
export const dynamodbClient = (): DynamoDBClient => {
  dynamodb ??= new DynamoDBClient(common);
  return dynamodb;
};
