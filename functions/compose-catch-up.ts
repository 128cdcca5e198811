/**
 * The audit-trail catch-up's wiring. The API key is read at every run, as the reconciler reads
 * it, so a rotated key is used from the next run on.
 */
import { dynamodbClient, ssmClient } from "./adapters/aws-clients.ts";
import { DynamoDbCatchUpCheckpoint } from "./adapters/dynamodb-catch-up-checkpoint.ts";
import { sqsClient } from "./adapters/sqs-client.ts";
import { SqsEventQueue } from "./adapters/sqs-event-queue.ts";
import { readSpaceliftApiKey } from "./adapters/ssm-api-key.ts";
import { loadCatchUpConfig } from "./core/catch-up-config.ts";
import type { Env } from "./core/env.ts";
import type { CatchUpRun } from "./handlers/catch-up.ts";
import { SpaceliftGraphqlClient } from "./spacelift/graphql-client.ts";
import { toGraphqlEndpoint } from "./spacelift/transport.ts";

export function composeCatchUp(env: Env): CatchUpRun {
  const config = loadCatchUpConfig(env);
  const queue = new SqsEventQueue(sqsClient(), config.queueUrl);
  const checkpoint = new DynamoDbCatchUpCheckpoint(dynamodbClient(), config.ledgerTable);
  const endpoint = config.spaceliftEndpoint ?? toGraphqlEndpoint(config.account.spaceliftHostname);
  return async () => {
    const { apiKeyParameter } = config;
    if (apiKeyParameter === undefined) {
      return { available: false, reason: "SPACELIFT_API_KEY_PARAMETER is not set" };
    }
    const key = await readSpaceliftApiKey(ssmClient(), apiKeyParameter);
    if (key === undefined) {
      return {
        available: false,
        reason: `the API key parameter ${apiKeyParameter} does not exist`,
      };
    }
    return {
      available: true,
      deps: {
        account: config.account.spaceliftAccount,
        auditTrail: new SpaceliftGraphqlClient({
          endpoint,
          apiKeyId: key.id,
          apiKeySecret: key.secret,
        }),
        queue,
        checkpoint,
        settings: config.settings,
        now: Date.now,
      },
    };
  };
}
