/**
 * Creates, in an AWS endpoint (moto locally), what the deployed stack would: the Spacelift
 * OIDC provider, the permissions boundary (unless one is given), the FIFO queue with its
 * dead-letter queue, and the ordering ledger table.
 * Idempotent, so it can run against an emulator that already has them.
 */
import {
  CreateTableCommand,
  DynamoDBClient,
  ResourceInUseException,
} from "@aws-sdk/client-dynamodb";
import {
  CreateOpenIDConnectProviderCommand,
  CreatePolicyCommand,
  EntityAlreadyExistsException,
  IAMClient,
} from "@aws-sdk/client-iam";
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";

export interface LocalAwsResources {
  readonly oidcProviderArn: string;
  /** The boundary vended roles carry: the one given, or a local stand-in created here. */
  readonly permissionsBoundaryArn: string;
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  readonly ledgerTable: string;
}

export interface LocalAwsOptions {
  readonly endpoint: string;
  readonly region?: string;
  readonly spaceliftHostname: string;
  /** Distinguishes several pipelines in one emulator. */
  readonly name?: string;
  readonly maxReceiveCount?: number;
  readonly visibilityTimeoutSeconds?: number;
  /** An existing boundary to use; none: a local one is created, as production requires one. */
  readonly permissionsBoundaryArn?: string;
}

/**
 * A stand-in for infra/modules/oidc-provider's boundary (moto never evaluates policies): its
 * broad grant without IAM, so that local roles carry a boundary as deployed ones must.
 */
const LOCAL_BOUNDARY = {
  Version: "2012-10-17",
  Statement: [
    {
      Sid: "AllowAllButIam",
      Effect: "Allow",
      NotAction: [
        "iam:*",
        "organizations:*",
        "account:*",
        "sso:*",
        "sso-directory:*",
        "identitystore:*",
      ],
      Resource: "*",
    },
  ],
};

export function localClientConfig(endpoint: string, region = "us-east-1") {
  return {
    endpoint,
    region,
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
  };
}

/** The ledger table as serverless.yml defines it (key `resource`); an existing one is kept. */
export async function createLedgerTable(
  dynamodb: DynamoDBClient,
  tableName: string,
): Promise<void> {
  try {
    await dynamodb.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [{ AttributeName: "resource", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "resource", KeyType: "HASH" }],
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
}

export async function createLocalAwsResources(
  options: LocalAwsOptions,
): Promise<LocalAwsResources> {
  const config = localClientConfig(options.endpoint, options.region);
  const name = options.name ?? "spacelift-role-vending";
  const iam = new IAMClient(config);
  const sqs = new SQSClient(config);
  const dynamodb = new DynamoDBClient(config);
  let oidcProviderArn: string;
  try {
    const created = await iam.send(
      new CreateOpenIDConnectProviderCommand({
        Url: `https://${options.spaceliftHostname}`,
        ClientIDList: [options.spaceliftHostname],
        ThumbprintList: ["0000000000000000000000000000000000000000"],
      }),
    );
    oidcProviderArn = created.OpenIDConnectProviderArn ?? "";
  } catch (error) {
    if (!(error instanceof EntityAlreadyExistsException)) throw error;
    oidcProviderArn = `arn:aws:iam::123456789012:oidc-provider/${options.spaceliftHostname}`;
  }
  let permissionsBoundaryArn = options.permissionsBoundaryArn ?? "";
  if (permissionsBoundaryArn === "") {
    const boundaryName = `${name}-boundary`;
    const boundaryPath = "/spacelift-role-vending/";
    try {
      const created = await iam.send(
        new CreatePolicyCommand({
          PolicyName: boundaryName,
          Path: boundaryPath,
          PolicyDocument: JSON.stringify(LOCAL_BOUNDARY),
        }),
      );
      permissionsBoundaryArn = created.Policy?.Arn ?? "";
    } catch (error) {
      if (!(error instanceof EntityAlreadyExistsException)) throw error;
      permissionsBoundaryArn = `arn:aws:iam::123456789012:policy${boundaryPath}${boundaryName}`;
    }
  }
  const dlq = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${name}-dlq.fifo`,
      Attributes: { FifoQueue: "true", MessageRetentionPeriod: "1209600" },
    }),
  );
  const deadLetterQueueUrl = dlq.QueueUrl ?? "";
  const dlqArn = (
    await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: deadLetterQueueUrl, AttributeNames: ["QueueArn"] }),
    )
  ).Attributes?.QueueArn;
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${name}-events.fifo`,
      Attributes: {
        FifoQueue: "true",
        VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? 5),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: dlqArn,
          maxReceiveCount: options.maxReceiveCount ?? 5,
        }),
      },
    }),
  );
  const ledgerTable = `${name}-ledger`;
  await createLedgerTable(dynamodb, ledgerTable);
  iam.destroy();
  sqs.destroy();
  dynamodb.destroy();
  return {
    oidcProviderArn,
    permissionsBoundaryArn,
    queueUrl: queue.QueueUrl ?? "",
    deadLetterQueueUrl,
    ledgerTable,
  };
}
