/**
 * Creates, in an AWS endpoint (moto locally), what the deployed stack would: the Spacelift
 * OIDC provider, the permissions boundary (unless one is given), the FIFO queue with its
 * dead-letter queue, and the ordering ledger table; and, in each target account, what
 * infra/modules/target-account would (ensureLocalTargetAccounts).
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
  CreateRoleCommand,
  EntityAlreadyExistsException,
  GetOpenIDConnectProviderCommand,
  GetPolicyCommand,
  GetRoleCommand,
  IAMClient,
  NoSuchEntityException,
} from "@aws-sdk/client-iam";
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { ConfigurationError } from "../../functions/core/errors.ts";

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

/** What an SDK client needs to talk to the local emulator. */
export interface LocalClientConfig {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly sessionToken?: string;
  };
}

export function localClientConfig(endpoint: string, region = "us-east-1"): LocalClientConfig {
  return {
    endpoint,
    region,
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
  };
}

/**
 * `config` with the credentials of an assumed `roleArn`: what moto offers in place of a second
 * account's own credentials (they act in that ARN's account, whether the role exists or not).
 */
export async function assumedRoleClientConfig(
  sts: STSClient,
  config: LocalClientConfig,
  roleArn: string,
  sessionName: string,
): Promise<LocalClientConfig> {
  const { Credentials: credentials } = await sts.send(
    new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: sessionName }),
  );
  return {
    ...config,
    credentials: {
      accessKeyId: credentials?.AccessKeyId ?? "",
      secretAccessKey: credentials?.SecretAccessKey ?? "",
      sessionToken: credentials?.SessionToken ?? "",
    },
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

// --- Target accounts ---------------------------------------------------------------------------

/** One target account as the permissions file's `accounts` entry gives it (without `spaces`). */
export interface LocalTargetAccount {
  readonly id: string;
  readonly vendingRoleArn: string;
  /** Default: arn:aws:iam::<id>:oidc-provider/<spaceliftHostname>. */
  readonly oidcProviderArn?: string;
  /** Default: a local stand-in boundary created in that account. */
  readonly permissionsBoundaryArn?: string;
  readonly externalId?: string;
}

/** What the account carries after {@link ensureLocalTargetAccounts}, every ARN filled in. */
export interface PreparedTargetAccount {
  readonly id: string;
  readonly vendingRoleArn: string;
  readonly oidcProviderArn: string;
  readonly permissionsBoundaryArn: string;
  readonly externalId?: string;
}

export interface LocalTargetAccountOptions {
  readonly endpoint: string;
  readonly region?: string;
  readonly spaceliftHostname: string;
  /**
   * Whom the vending roles trust: the local service's principal(s). Default: the caller
   * identity of the local credentials (what the local provisioner and reconciler run as).
   */
  readonly servicePrincipalArns?: readonly string[];
  /** Name of the stand-in boundary created where an account names none. */
  readonly name?: string;
}

const ACCOUNT_ID = /^[0-9]{12}$/;
const IAM_NAME = "[A-Za-z0-9+=,.@_-]";
const ROLE_ARN = new RegExp(
  `^arn:aws:iam::([0-9]{12}):role(/(?:${IAM_NAME}+/)*)(${IAM_NAME}{1,64})$`,
);
const POLICY_ARN = new RegExp(
  `^arn:aws:iam::([0-9]{12}):policy(/(?:${IAM_NAME}+/)*)(${IAM_NAME}{1,128})$`,
);
const OIDC_PROVIDER_ARN = /^arn:aws:iam::([0-9]{12}):oidc-provider\/([a-z0-9.-]+(?:\/[^\s]*)?)$/;
/**
 * The role assumed to set an account up, as an operator applying infra/modules/target-account
 * would (AWS Organizations creates it in member accounts). moto issues credentials for any role
 * ARN without checking that it exists, and they act in that ARN's account.
 */
const SETUP_ROLE_NAME = "OrganizationAccountAccessRole";

interface ParsedTargetAccount {
  readonly account: LocalTargetAccount;
  readonly role: { readonly path: string; readonly name: string };
  readonly oidcProviderArn: string;
  readonly oidcProviderHost: string;
  readonly boundary: { readonly arn: string; readonly path: string; readonly name: string };
}

/** Checks every entry before any call, so that bad input changes nothing. */
function parseTargetAccounts(
  accounts: readonly LocalTargetAccount[],
  options: LocalTargetAccountOptions,
): ParsedTargetAccount[] {
  const seen = new Set<string>();
  return accounts.map((account, index) => {
    const where = `target account ${index} (${account.id})`;
    if (!ACCOUNT_ID.test(account.id)) {
      throw new ConfigurationError(`${where}: id must be 12 digits`);
    }
    if (seen.has(account.id)) throw new ConfigurationError(`${where}: listed twice`);
    seen.add(account.id);
    const inAccount = (arn: string, pattern: RegExp, what: string) => {
      const found = pattern.exec(arn);
      if (found === null)
        throw new ConfigurationError(`${where}: ${what} ${arn} is not an ARN of that kind`);
      if (found[1] !== account.id) {
        throw new ConfigurationError(
          `${where}: ${what} ${arn} is in account ${found[1]}, not ${account.id}`,
        );
      }
      return found;
    };
    const role = inAccount(account.vendingRoleArn, ROLE_ARN, "vendingRoleArn");
    const oidcProviderArn =
      account.oidcProviderArn ??
      `arn:aws:iam::${account.id}:oidc-provider/${options.spaceliftHostname}`;
    const provider = inAccount(oidcProviderArn, OIDC_PROVIDER_ARN, "oidcProviderArn");
    const boundaryArn =
      account.permissionsBoundaryArn ??
      `arn:aws:iam::${account.id}:policy/spacelift-role-vending/${options.name ?? "spacelift-role-vending"}-boundary`;
    const boundary = inAccount(boundaryArn, POLICY_ARN, "permissionsBoundaryArn");
    return {
      account,
      role: { path: role[2] ?? "/", name: role[3] ?? "" },
      oidcProviderArn,
      oidcProviderHost: provider[2] ?? "",
      boundary: { arn: boundaryArn, path: boundary[2] ?? "/", name: boundary[3] ?? "" },
    };
  });
}

/**
 * Sets up in the emulator what each target account carries (infra/modules/target-account): its
 * Spacelift OIDC provider, its boundary and the vending role trusting the local service's
 * principal, with the external ID when one is set. What already exists is accepted as it is,
 * so it runs on every `npm start`. Returns the entries with every ARN filled in.
 */
export async function ensureLocalTargetAccounts(
  accounts: readonly LocalTargetAccount[],
  options: LocalTargetAccountOptions,
): Promise<PreparedTargetAccount[]> {
  const parsed = parseTargetAccounts(accounts, options);
  const config = localClientConfig(options.endpoint, options.region);
  const sts = new STSClient(config);
  try {
    const principals = options.servicePrincipalArns ?? [
      (await sts.send(new GetCallerIdentityCommand({}))).Arn ?? "",
    ];
    const prepared: PreparedTargetAccount[] = [];
    for (const entry of parsed) {
      const iam = new IAMClient(
        await assumedRoleClientConfig(
          sts,
          config,
          `arn:aws:iam::${entry.account.id}:role/${SETUP_ROLE_NAME}`,
          "spacelift-role-vending-local-setup",
        ),
      );
      try {
        await ensureTargetAccount(iam, entry, principals);
      } finally {
        iam.destroy();
      }
      prepared.push({
        id: entry.account.id,
        vendingRoleArn: entry.account.vendingRoleArn,
        oidcProviderArn: entry.oidcProviderArn,
        permissionsBoundaryArn: entry.boundary.arn,
        ...(entry.account.externalId !== undefined && { externalId: entry.account.externalId }),
      });
    }
    return prepared;
  } finally {
    sts.destroy();
  }
}

/** Whether a Get* call finds the entity (NoSuchEntity: it does not). */
async function exists(get: () => Promise<unknown>): Promise<boolean> {
  try {
    await get();
    return true;
  } catch (error) {
    if (error instanceof NoSuchEntityException) return false;
    throw error;
  }
}

async function ensureTargetAccount(
  iam: IAMClient,
  entry: ParsedTargetAccount,
  principals: readonly string[],
): Promise<void> {
  const arn = entry.oidcProviderArn;
  if (
    !(await exists(() =>
      iam.send(new GetOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: arn })),
    ))
  ) {
    await iam.send(
      new CreateOpenIDConnectProviderCommand({
        Url: `https://${entry.oidcProviderHost}`,
        ClientIDList: [entry.oidcProviderHost.split("/")[0] ?? entry.oidcProviderHost],
        ThumbprintList: ["0000000000000000000000000000000000000000"],
      }),
    );
  }
  const boundaryArn = entry.boundary.arn;
  if (!(await exists(() => iam.send(new GetPolicyCommand({ PolicyArn: boundaryArn }))))) {
    await iam.send(
      new CreatePolicyCommand({
        PolicyName: entry.boundary.name,
        Path: entry.boundary.path,
        PolicyDocument: JSON.stringify(LOCAL_BOUNDARY),
      }),
    );
  }
  const { path, name } = entry.role;
  try {
    const { Role: role } = await iam.send(new GetRoleCommand({ RoleName: name }));
    if (role?.Arn !== entry.account.vendingRoleArn) {
      throw new ConfigurationError(
        `target account ${entry.account.id}: a role named ${name} exists as ${role?.Arn}, not ${entry.account.vendingRoleArn}`,
      );
    }
    return;
  } catch (error) {
    if (!(error instanceof NoSuchEntityException)) throw error;
  }
  const externalId = entry.account.externalId;
  await iam.send(
    new CreateRoleCommand({
      RoleName: name,
      Path: path,
      Description: "Local stand-in for infra/modules/target-account's vending role.",
      // The module's trust: the service's principals only, with the external ID when set (moto
      // never evaluates it; the policy evaluator tests check the module's own document).
      AssumeRolePolicyDocument: JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Principal: { AWS: [...principals] },
            Action: "sts:AssumeRole",
            ...(externalId !== undefined && {
              Condition: { StringEquals: { "sts:ExternalId": externalId } },
            }),
          },
        ],
      }),
    }),
  );
}
