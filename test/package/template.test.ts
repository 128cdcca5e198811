/**
 * What `osls package` builds from serverless.yml: the CloudFormation template (resources,
 * event sources, per-function IAM) and the function zips. A broken serverless.yml fails here,
 * either because packaging fails or because an assertion about the result does.
 */

import { type ExecFileOptions, execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SECRETS_TTL_MS } from "../../functions/adapters/parameters-extension-secrets.ts";
import { loadCatchUpConfig } from "../../functions/core/catch-up-config.ts";
import {
  loadLedgerTable,
  loadMaxRolesPerSpace,
  loadVendingConfig,
} from "../../functions/core/config.ts";
import { allowedPolicyArns } from "../../functions/core/permissions.ts";
import { encodeQueueMessage } from "../../functions/core/queue-message.ts";
import { MAX_BODY_BYTES } from "../../functions/core/receive.ts";
import { loadReceiverConfig } from "../../functions/core/receiver-config.ts";
import { loadReconcilerConfig } from "../../functions/core/reconcile/settings.ts";
import { lambdaNodeBinary } from "../../testkit/lambda/lambda-bundle.ts";
import {
  type CloudFormationTemplate,
  evaluateCondition,
  extractZip,
  loadPackagedService,
  MINIMAL_PARAMS,
  PACKAGED_PARAMS,
  PACKAGED_REGION,
  PACKAGED_STAGE,
  type PackagedService,
  type PolicyStatement,
  readZipEntries,
  resolveIntrinsics,
  roleStatements,
  SERVICE_DIR,
  STACK_ENVIRONMENT_PARAMS,
  TARGET_ACCOUNT_PARAMS,
  TEMPLATE_ACCOUNT_ID,
  UNSAFE_NO_BOUNDARY_PARAMS,
  VENDING_ROLE_ARNS,
  zipImportGraph,
} from "../../testkit/policy/serverless-template.ts";

const PACKAGING_TIMEOUT = 300_000;
const ACCOUNT = TEMPLATE_ACCOUNT_ID;
const REGION = PACKAGED_REGION;
const VENDED_ROLES = `arn:aws:iam::${ACCOUNT}:role/spacelift/spacelift-*`;
const ROLES_UNDER_PATH = `arn:aws:iam::${ACCOUNT}:role/spacelift/*`;
const ROLE_ARN_PARAMETERS = `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/spacelift/*`;
const FUNCTIONS = {
  receiver: { logicalId: "ReceiverLambdaFunction", role: "ReceiverRole" },
  provisioner: { logicalId: "ProvisionerLambdaFunction", role: "ProvisionerRole" },
  reconciler: { logicalId: "ReconcilerLambdaFunction", role: "ReconcilerRole" },
} as const;
type FunctionName = keyof typeof FUNCTIONS;
const FUNCTION_NAMES = Object.keys(FUNCTIONS) as FunctionName[];

/** IAM actions that change something; every other action the functions hold is a read. */
const IAM_WRITES =
  /^iam:(Create|Delete|Put|Attach|Detach|Update|Tag|Untag|Add|Remove|Pass|Set|Upload|Change|Reset|Enable|Deactivate)/;
const READS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS = new Set([
  "iam:ListRoles",
  // The reconciler's bulk inventory; it reveals the whole account's IAM (docs/security.md).
  "iam:GetAccountAuthorizationDetails",
  // The role quota check before a create (GetAccountSummary: Roles, RolesQuota).
  "iam:GetAccountSummary",
]);

let service: PackagedService;
let template: CloudFormationTemplate;
let minimal: CloudFormationTemplate;
let unsafe: CloudFormationTemplate;
let withStackEnvironment: CloudFormationTemplate;
let withTargetAccounts: CloudFormationTemplate;

beforeAll(async () => {
  [service, minimal, unsafe, withStackEnvironment, withTargetAccounts] = await Promise.all([
    loadPackagedService(PACKAGED_PARAMS),
    loadPackagedService(MINIMAL_PARAMS).then((packaged) => packaged.template),
    loadPackagedService(UNSAFE_NO_BOUNDARY_PARAMS).then((packaged) => packaged.template),
    loadPackagedService(STACK_ENVIRONMENT_PARAMS).then((packaged) => packaged.template),
    loadPackagedService(TARGET_ACCOUNT_PARAMS).then((packaged) => packaged.template),
  ]);
  template = service.template;
}, PACKAGING_TIMEOUT);

const resources = (from: CloudFormationTemplate = template) =>
  from.Resources as Record<string, CloudFormationTemplate>;
const resolve = <T = unknown>(value: unknown, from: CloudFormationTemplate = template): T =>
  resolveIntrinsics(from, value) as T;
const ofType = (type: string, from: CloudFormationTemplate = template) =>
  Object.entries(resources(from)).filter(([, resource]) => resource.Type === type);
const fn = (name: FunctionName, from: CloudFormationTemplate = template) =>
  resources(from)[FUNCTIONS[name].logicalId] as CloudFormationTemplate;
const asList = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];
const allows = (statements: PolicyStatement[]) => statements.filter((s) => s.Effect === "Allow");
const statementsGranting = (statements: PolicyStatement[], action: string) =>
  allows(statements).filter((s) => asList(s.Action).includes(action));

describe("queues", () => {
  it("event queue is FIFO with explicit deduplication IDs and a 5-receive redrive to a FIFO DLQ", () => {
    const queue = resources().EventQueue?.Properties;
    const dlq = resources().DeadLetterQueue?.Properties;

    expect(queue.FifoQueue).toBe(true);
    expect(queue.ContentBasedDeduplication).toBe(false);
    expect(queue.QueueName).toBe(`spacelift-role-vending-${PACKAGED_STAGE}-events.fifo`);
    expect(queue.RedrivePolicy).toEqual({
      deadLetterTargetArn: { "Fn::GetAtt": ["DeadLetterQueue", "Arn"] },
      maxReceiveCount: 5,
    });
    expect(dlq.FifoQueue).toBe(true);
    expect(dlq.QueueName).toBe(`spacelift-role-vending-${PACKAGED_STAGE}-events-dlq.fifo`);
  });

  it("no other queue may dead-letter into the event queue, and only the event queue into the DLQ", () => {
    // A queue's RedriveAllowPolicy defaults to allowAll: "any source queues in this AWS account
    // in the same Region can specify this queue as the dead-letter queue" (SQS API reference,
    // CreateQueue), and SQS itself moves the messages, past the queue policy's SendMessage deny.
    // Without this, a stack role could dead-letter its own queue into the event queue: forged
    // events for the provisioner.
    const queue = resources().EventQueue?.Properties;
    const dlq = resources().DeadLetterQueue?.Properties;

    expect(resolve(queue.RedriveAllowPolicy)).toEqual({ redrivePermission: "denyAll" });
    expect(resolve(dlq.RedriveAllowPolicy)).toEqual({
      redrivePermission: "byQueue",
      sourceQueueArns: [
        `arn:aws:sqs:${PACKAGED_REGION}:${TEMPLATE_ACCOUNT_ID}:spacelift-role-vending-${PACKAGED_STAGE}-events.fifo`,
      ],
    });
  });

  it("both queues take the largest body the receiver accepts, in its queue form", () => {
    // Attack: a stack description of ~200 KB made a stack.update body the receiver accepts
    // (up to 256 KiB) but whose base64 queue form is larger than 256 KiB, the SQS default
    // MaximumMessageSize: every delivery answered 503. The DLQ must take what the queue moves.
    const largest = encodeQueueMessage("\u{10FFFF}".repeat(MAX_BODY_BYTES / 4)).length;
    const queue = resources().EventQueue?.Properties;
    const dlq = resources().DeadLetterQueue?.Properties;

    expect(largest).toBeGreaterThan(262_144);
    expect(queue.MaximumMessageSize).toBeGreaterThanOrEqual(largest);
    expect(dlq.MaximumMessageSize).toBeGreaterThanOrEqual(queue.MaximumMessageSize);
  });

  it("visibility timeout is at least six times the provisioner's timeout", () => {
    const timeout = fn("provisioner").Properties.Timeout as number;

    expect(resources().EventQueue?.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(
      6 * timeout,
    );
  });
});

describe("ledger table", () => {
  it("is on-demand, keyed by `resource`, with TTL on expiresAt and point-in-time recovery", () => {
    const table = resources().LedgerTable?.Properties;

    expect(table.BillingMode).toBe("PAY_PER_REQUEST");
    expect(table.KeySchema).toEqual([{ AttributeName: "resource", KeyType: "HASH" }]);
    expect(table.AttributeDefinitions).toEqual([{ AttributeName: "resource", AttributeType: "S" }]);
    expect(table.TimeToLiveSpecification).toEqual({ AttributeName: "expiresAt", Enabled: true });
    expect(table.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
  });
});

describe("alarms", () => {
  const alarm = (logicalId: string) => resolve<CloudFormationTemplate>(resources()[logicalId]);

  it("fires when any message is visible in the dead-letter queue", () => {
    const { Properties: dlqAlarm } = alarm("DeadLetterQueueAlarm");

    expect(dlqAlarm).toMatchObject({
      Namespace: "AWS/SQS",
      MetricName: "ApproximateNumberOfMessagesVisible",
      Dimensions: [
        { Name: "QueueName", Value: `spacelift-role-vending-${PACKAGED_STAGE}-events-dlq.fifo` },
      ],
      Threshold: 0,
      ComparisonOperator: "GreaterThanThreshold",
      TreatMissingData: "notBreaching",
    });
  });

  it("fires on the WebhookDisabled metric the receiver publishes", () => {
    const { Properties: webhookAlarm } = alarm("WebhookDisabledAlarm");

    expect(webhookAlarm).toMatchObject({
      Namespace: "SpaceliftRoleVending",
      MetricName: "WebhookDisabled",
      // The stage-specific service name the receiver publishes its metrics under.
      Dimensions: [{ Name: "service", Value: `spacelift-role-vending-${PACKAGED_STAGE}` }],
      Threshold: 0,
      ComparisonOperator: "GreaterThanThreshold",
    });
    expect(
      resolve<Record<string, string>>(fn("receiver").Properties.Environment.Variables),
    ).toMatchObject({
      POWERTOOLS_SERVICE_NAME: `spacelift-role-vending-${PACKAGED_STAGE}`,
    });
  });

  it("fires when the audit-trail catch-up fails three runs in a row", () => {
    const { Properties: errorsAlarm } = alarm("CatchUpErrorsAlarm");

    expect(errorsAlarm).toMatchObject({
      Namespace: "AWS/Lambda",
      MetricName: "Errors",
      Dimensions: [
        { Name: "FunctionName", Value: `spacelift-role-vending-${PACKAGED_STAGE}-catch-up` },
      ],
      Period: 300,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      Threshold: 0,
      ComparisonOperator: "GreaterThanThreshold",
    });
  });

  it("fires on provisioner invocation errors", () => {
    const { Properties: errorsAlarm } = alarm("ProvisionerErrorsAlarm");

    expect(errorsAlarm).toMatchObject({
      Namespace: "AWS/Lambda",
      MetricName: "Errors",
      Dimensions: [
        { Name: "FunctionName", Value: `spacelift-role-vending-${PACKAGED_STAGE}-provisioner` },
      ],
      Threshold: 0,
      ComparisonOperator: "GreaterThanThreshold",
    });
  });

  it("notifies the SNS topic created for alarmEmail, and nothing when no alarm target is set", () => {
    const topicArn = `arn:aws:sns:${REGION}:${ACCOUNT}:spacelift-role-vending-${PACKAGED_STAGE}-alarms`;
    const alarms = ofType("AWS::CloudWatch::Alarm");

    expect(alarms.length).toBeGreaterThanOrEqual(3);
    for (const [, resource] of alarms) {
      expect(resolve<CloudFormationTemplate>(resource).Properties.AlarmActions).toEqual([topicArn]);
    }
    expect(resolve(resources().AlarmTopic?.Properties.Subscription)).toEqual([
      { Protocol: "email", Endpoint: PACKAGED_PARAMS.alarmEmail },
    ]);
    expect(evaluateCondition(minimal, "CreatesAlarmTopic")).toBe(false);
    for (const [, resource] of ofType("AWS::CloudWatch::Alarm", minimal)) {
      expect(
        resolve<CloudFormationTemplate>(resource, minimal).Properties.AlarmActions,
      ).toBeUndefined();
    }
  });
});

describe("permissions boundary", () => {
  it(
    "is required: packaging without permissionsBoundaryArn and without the opt-out fails",
    async () => {
      const packaging = loadPackagedService({
        spaceliftHostname: PACKAGED_PARAMS.spaceliftHostname,
      });

      await expect(packaging).rejects.toThrow(
        /Cannot resolve variable at "custom\.permissionsBoundaryArn"/,
      );
    },
    PACKAGING_TIMEOUT,
  );

  it("is handed to the provisioner and reconciler, with the opt-out off unless set", () => {
    for (const name of ["provisioner", "reconciler"] as const) {
      const env = resolve<Record<string, string>>(fn(name).Properties.Environment.Variables);
      const unsafeEnv = resolve<Record<string, string>>(
        fn(name, unsafe).Properties.Environment.Variables,
        unsafe,
      );

      expect(env.PERMISSIONS_BOUNDARY_ARN).toBe(PACKAGED_PARAMS.permissionsBoundaryArn);
      expect(env.UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY).toBe("false");
      expect(unsafeEnv.PERMISSIONS_BOUNDARY_ARN).toBe("");
      expect(unsafeEnv.UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY).toBe("true");
    }
  });
});

describe("HTTP API", () => {
  it("throttles the default route, so a flood is refused with 429 before the receiver", () => {
    const stages = ofType("AWS::ApiGatewayV2::Stage");
    const [[, stage] = []] = stages;

    expect(stages).toHaveLength(1);
    expect(stage?.Properties.DefaultRouteSettings).toMatchObject({
      ThrottlingBurstLimit: 50,
      ThrottlingRateLimit: 20,
    });
  });
});

describe("secrets key", () => {
  const keyPolicy = () =>
    resolve<{ Statement: PolicyStatement[] }>(resources().SecretsKey?.Properties.KeyPolicy);

  it("lets nobody decrypt but the receiver, the reconciler and the operators, through SSM", () => {
    const decrypting = keyPolicy().Statement.filter(
      (s) => s.Effect === "Allow" && asList(s.Action).some((a) => /^kms:(Decrypt|\*)/.test(a)),
    );
    const parameter = (name: string) => `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${name}`;
    const throughSsm = {
      "kms:ViaService": `ssm.${REGION}.amazonaws.com`,
      "aws:PrincipalAccount": ACCOUNT,
    };

    expect(decrypting.map((s) => [s.Action, s.Condition])).toEqual([
      [
        "kms:Decrypt",
        {
          StringEquals: {
            ...throughSsm,
            "kms:EncryptionContext:PARAMETER_ARN": [
              parameter("/spacelift-role-vending/webhook-secret"),
              parameter("/spacelift-role-vending/webhook-secret-previous"),
            ],
          },
          ArnEquals: {
            "aws:PrincipalArn": `arn:aws:iam::${ACCOUNT}:role/spacelift-role-vending/spacelift-role-vending-${PACKAGED_STAGE}-receiver`,
          },
        },
      ],
      [
        "kms:Decrypt",
        {
          StringEquals: {
            ...throughSsm,
            "kms:EncryptionContext:PARAMETER_ARN": parameter(
              "/spacelift-role-vending/spacelift-api-key",
            ),
          },
          ArnEquals: {
            "aws:PrincipalArn": `arn:aws:iam::${ACCOUNT}:role/spacelift-role-vending/spacelift-role-vending-${PACKAGED_STAGE}-reconciler`,
          },
        },
      ],
      [
        "kms:Decrypt",
        {
          StringEquals: throughSsm,
          ArnLike: { "aws:PrincipalArn": [PACKAGED_PARAMS.operatorRoleArns] },
        },
      ],
    ]);
  });

  it("lets no operator decrypt when none is listed", () => {
    const decrypting = resolve<{ Statement: PolicyStatement[] }>(
      resources(minimal).SecretsKey?.Properties.KeyPolicy,
      minimal,
    ).Statement.filter((s) => s.Effect === "Allow" && asList(s.Action).includes("kms:Decrypt"));

    expect(decrypting.map((s) => s.Sid)).toEqual([
      "DecryptWebhookSecretsForTheReceiver",
      "DecryptApiKeyForTheReconciler",
    ]);
  });

  it("lets the provisioner decrypt too, only with stackEnvironment=true", () => {
    const principals = (from: CloudFormationTemplate) =>
      resolve<{ Statement: PolicyStatement[] }>(
        resources(from).SecretsKey?.Properties.KeyPolicy,
        from,
      )
        .Statement.filter((s) => asList(s.Action).includes("kms:Decrypt"))
        .flatMap((s) =>
          [
            s.Condition?.ArnLike?.["aws:PrincipalArn"],
            s.Condition?.ArnEquals?.["aws:PrincipalArn"],
          ].flatMap((arns) => (arns === undefined ? [] : asList(arns as string | string[]))),
        );
    const provisioner = `arn:aws:iam::${ACCOUNT}:role/spacelift-role-vending/spacelift-role-vending-${PACKAGED_STAGE}-provisioner`;

    expect(principals(withStackEnvironment)).toContain(provisioner);
    expect(principals(minimal)).not.toContain(provisioner);
    expect(principals(template)).not.toContain(provisioner);
  });

  it("delegates neither decryption nor grants to the account's IAM policies", () => {
    const toAccount = keyPolicy().Statement.filter(
      (s) =>
        s.Effect === "Allow" &&
        JSON.stringify(s.Principal) === JSON.stringify({ AWS: `arn:aws:iam::${ACCOUNT}:root` }),
    );
    const actions = toAccount.flatMap((s) => asList(s.Action));

    expect(actions.length).toBeGreaterThan(0);
    expect(actions.filter((a) => a.includes("*"))).toEqual([]);
    expect(actions).not.toContain("kms:Decrypt");
    expect(actions).not.toContain("kms:CreateGrant");
    expect(actions).toEqual(expect.arrayContaining(["kms:Encrypt", "kms:PutKeyPolicy"]));
  });

  it("is exported, with an alias per stage", () => {
    expect(resolve(service.template.Outputs.SecretsKeyArn.Value)).toBe(
      `arn:aws:kms:${REGION}:${ACCOUNT}:key/SecretsKey`,
    );
    expect(resources().SecretsKeyAlias?.Properties.AliasName).toBe(
      `alias/spacelift-role-vending-${PACKAGED_STAGE}-secrets`,
    );
  });
});

describe("event sources", () => {
  it("routes POST /webhooks/spacelift on the HTTP API to the receiver", () => {
    const [[, route] = []] = ofType("AWS::ApiGatewayV2::Route");
    const routes = ofType("AWS::ApiGatewayV2::Route");
    const integrationId = resolve<string>(route?.Properties.Target).replace("integrations/", "");
    const integration = resources()[integrationId]?.Properties;

    expect(routes).toHaveLength(1);
    expect(route?.Properties.RouteKey).toBe("POST /webhooks/spacelift");
    expect(integration.IntegrationType).toBe("AWS_PROXY");
    expect(integration.PayloadFormatVersion).toBe("2.0");
    expect(integration.IntegrationUri).toEqual({ "Fn::GetAtt": ["ReceiverLambdaFunction", "Arn"] });
  });

  it("feeds the event queue to the provisioner in batches of 10 with partial batch responses", () => {
    const mappings = ofType("AWS::Lambda::EventSourceMapping");
    const [[, mapping] = []] = mappings;

    expect(mappings).toHaveLength(1);
    expect(mapping?.Properties).toMatchObject({
      EventSourceArn: { "Fn::GetAtt": ["EventQueue", "Arn"] },
      FunctionName: { "Fn::GetAtt": ["ProvisionerLambdaFunction", "Arn"] },
      BatchSize: 10,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
    });
  });

  it("never polls with more concurrency than the provisioner may run", () => {
    const [[, mapping] = []] = ofType("AWS::Lambda::EventSourceMapping");
    const reserved = fn("provisioner").Properties.ReservedConcurrentExecutions as number;

    expect(reserved).toBe(2);
    expect(mapping?.Properties.ScalingConfig.MaximumConcurrency).toBeLessThanOrEqual(reserved);
  });

  /** The schedule rule whose only target is that function. */
  const scheduleOf = (logicalId: string) => {
    const rules = ofType("AWS::Events::Rule").filter(([, rule]) =>
      (rule.Properties.Targets as { Arn: unknown }[]).some(
        (target) =>
          JSON.stringify(target.Arn) === JSON.stringify({ "Fn::GetAtt": [logicalId, "Arn"] }),
      ),
    );
    expect(rules).toHaveLength(1);
    return rules[0]?.[1];
  };

  it("runs the reconciler on a schedule, one at a time, without asynchronous retries", () => {
    // Two schedules: the reconciler's and the audit-trail catch-up's (issue 14).
    expect(ofType("AWS::Events::Rule")).toHaveLength(2);
    expect(scheduleOf("ReconcilerLambdaFunction")?.Properties.ScheduleExpression).toBe(
      "rate(1 hour)",
    );
    expect(fn("reconciler").Properties.ReservedConcurrentExecutions).toBe(1);
    expect(resources().ReconcilerLambdaEvConf?.Properties.MaximumRetryAttempts).toBe(0);
  });

  it("runs the audit-trail catch-up every 5 minutes, one at a time, without asynchronous retries, under the reconciler's role", () => {
    const catchUp = resources().CatchUpLambdaFunction?.Properties;

    expect(scheduleOf("CatchUpLambdaFunction")?.Properties.ScheduleExpression).toBe(
      "rate(5 minutes)",
    );
    expect(catchUp.Handler).toBe("functions/catch-up.handler");
    expect(catchUp.FunctionName).toBe(`spacelift-role-vending-${PACKAGED_STAGE}-catch-up`);
    expect(catchUp.Runtime).toBe("nodejs24.x");
    expect(catchUp.Role).toEqual({ "Fn::GetAtt": ["ReconcilerRole", "Arn"] });
    expect(catchUp.ReservedConcurrentExecutions).toBe(1);
    expect(resources().CatchUpLambdaEvConf?.Properties.MaximumRetryAttempts).toBe(0);
  });
});

describe("functions", () => {
  it.each(FUNCTION_NAMES)("%s runs Node.js 24 on arm64 with its handler", (name) => {
    const { Properties: properties } = fn(name);

    // nodejs20.x reached end of life on 2026-04-30; nodejs24.x is supported until 2028-04-30.
    expect(properties.Runtime).toBe("nodejs24.x");
    expect(properties.Architectures).toEqual(["arm64"]);
    expect(properties.Handler).toBe(`functions/${name}.handler`);
    expect(properties.FunctionName).toBe(`spacelift-role-vending-${PACKAGED_STAGE}-${name}`);
  });

  it.each(FUNCTION_NAMES)("%s logs to a group with a retention period", (name) => {
    const group = Object.values(resources()).find(
      (resource) =>
        resource.Type === "AWS::Logs::LogGroup" &&
        resource.Properties.LogGroupName ===
          `/aws/lambda/spacelift-role-vending-${PACKAGED_STAGE}-${name}`,
    );

    expect(group?.Properties.RetentionInDays).toBe(30);
  });

  it("each function has its own execution role and there is no shared one", () => {
    const roles = FUNCTION_NAMES.map((name) => fn(name).Properties.Role);

    expect(roles).toEqual(
      FUNCTION_NAMES.map((name) => ({ "Fn::GetAtt": [FUNCTIONS[name].role, "Arn"] })),
    );
    expect(resources().IamRoleLambdaExecution).toBeUndefined();
    for (const name of FUNCTION_NAMES) {
      const role = resources()[FUNCTIONS[name].role]?.Properties;
      expect(role.Path).toBe("/spacelift-role-vending/");
      expect(role.ManagedPolicyArns).toBeUndefined();
      expect(role.AssumeRolePolicyDocument.Statement).toEqual([
        {
          Effect: "Allow",
          Principal: { Service: "lambda.amazonaws.com" },
          Action: "sts:AssumeRole",
        },
      ]);
    }
  });
});

describe("environment", () => {
  const environment = (name: FunctionName) =>
    resolve<Record<string, string>>(fn(name).Properties.Environment.Variables);

  it("gives every function a vending configuration its loader accepts", async () => {
    for (const name of FUNCTION_NAMES) {
      const config = await loadVendingConfig(environment(name));

      expect(config).toMatchObject({
        spaceliftHostname: PACKAGED_PARAMS.spaceliftHostname,
        awsAccountId: ACCOUNT,
        rolePath: "/spacelift/",
        roleNamePrefix: "spacelift-",
        parameterPrefix: "/spacelift",
        permissionsBoundaryArn: PACKAGED_PARAMS.permissionsBoundaryArn,
        defaultPolicyArns: [PACKAGED_PARAMS.defaultPolicyArns],
      });
    }
  });

  it("gives every function a configuration its loader accepts with only the required parameter", async () => {
    for (const name of FUNCTION_NAMES) {
      const config = await loadVendingConfig(
        resolve(fn(name, minimal).Properties.Environment.Variables, minimal),
      );

      expect(config.permissionsBoundaryArn).toBe(MINIMAL_PARAMS.permissionsBoundaryArn);
      expect(config.defaultPolicyArns).toEqual([]);
    }
  });

  it("reads the account ID from CloudFormation, not from STS at packaging time", () => {
    expect(fn("receiver").Properties.Environment.Variables.AWS_ACCOUNT_ID).toEqual({
      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's syntax, not JavaScript's.
      "Fn::Sub": "${AWS::AccountId}",
    });
  });

  it("gives the receiver its queue and the names (never the values) of its secret parameters", () => {
    const env = environment("receiver");
    // Lambda sets the session token; the extension requires it.
    const config = loadReceiverConfig({ ...env, AWS_SESSION_TOKEN: "session-token" });

    expect(config).toEqual({
      queueUrl: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/spacelift-role-vending-${PACKAGED_STAGE}-events.fifo`,
      eventWindow: { maxAgeMs: 3_600_000, maxSkewMs: 300_000 },
      secrets: {
        source: "extension",
        current: "/spacelift-role-vending/webhook-secret",
        previous: "/spacelift-role-vending/webhook-secret-previous",
        extension: { port: 2773, token: "session-token" },
      },
    });
    expect(env).not.toHaveProperty("SPACELIFT_WEBHOOK_SECRET");
    expect(env).not.toHaveProperty("SPACELIFT_WEBHOOK_SECRET_PREVIOUS");
  });

  it("gives the provisioner and the reconciler the ledger table", () => {
    for (const name of ["provisioner", "reconciler"] as const) {
      expect(loadLedgerTable(environment(name))).toBe(
        `spacelift-role-vending-${PACKAGED_STAGE}-ledger`,
      );
    }
  });

  it("gives the provisioner and the reconciler the per-space role cap, 200 by default", () => {
    for (const name of ["provisioner", "reconciler"] as const) {
      expect(environment(name).MAX_ROLES_PER_SPACE).toBe("200");
      expect(loadMaxRolesPerSpace(environment(name))).toBe(200);
    }
  });

  it("gives the audit-trail catch-up a configuration its loader accepts: queue, ledger table, API key and its defaults", () => {
    const env = resolve<Record<string, string>>(
      resources().CatchUpLambdaFunction?.Properties.Environment.Variables,
    );

    expect(loadCatchUpConfig(env)).toEqual({
      account: {
        spaceliftHostname: PACKAGED_PARAMS.spaceliftHostname,
        spaceliftAccount: "acme",
        defaultSpaceId: "root",
      },
      queueUrl: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/spacelift-role-vending-${PACKAGED_STAGE}-events.fifo`,
      ledgerTable: `spacelift-role-vending-${PACKAGED_STAGE}-ledger`,
      apiKeyParameter: "/spacelift-role-vending/spacelift-api-key",
      spaceliftEndpoint: undefined,
      settings: {
        initialWindowMs: 3_600_000,
        overlapMs: 120_000,
        maxResourcesPerRun: 500,
        maxLookbackMs: 7 * 86_400_000,
      },
    });
  });

  it("gives the reconciler a configuration its loader accepts, API key parameter included", () => {
    expect(loadReconcilerConfig(environment("reconciler"))).toEqual({
      apiKeyParameter: "/spacelift-role-vending/spacelift-api-key",
      spaceliftEndpoint: undefined,
      settings: {
        orphanGracePeriodHours: 72,
        maxDeletionsPerRun: 20,
        maxRevocationsPerRun: 50,
        concurrency: 4,
        dryRun: false,
      },
    });
  });

  it.each(FUNCTION_NAMES)("%s stays within Lambda's 4 KB environment limit", (name) => {
    const env = environment(name);
    const size = Object.entries(env).reduce((sum, [k, v]) => sum + k.length + v.length, 0);

    expect(size).toBeLessThan(4096);
  });
});

describe("IAM: every role", () => {
  const everyStatement = () =>
    FUNCTION_NAMES.flatMap((name) => roleStatements(template, FUNCTIONS[name].role));

  it("grants no wildcard action", () => {
    for (const statement of allows(everyStatement())) {
      expect(statement.NotAction).toBeUndefined();
      for (const action of asList(statement.Action)) expect(action).not.toMatch(/\*/);
    }
  });

  it("lets only the reconciler read the account's IAM in bulk (GetAccountAuthorizationDetails)", () => {
    const holders = FUNCTION_NAMES.filter((name) =>
      allows(roleStatements(template, FUNCTIONS[name].role)).some((statement) =>
        asList(statement.Action).includes("iam:GetAccountAuthorizationDetails"),
      ),
    );

    expect(holders).toEqual(["reconciler"]);
  });

  it("grants `Resource: *` only for reads that IAM cannot scope", () => {
    for (const statement of allows(everyStatement())) {
      expect(statement.NotResource).toBeUndefined();
      if (asList(statement.Resource).includes("*")) {
        for (const action of asList(statement.Action)) {
          expect(READS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS).toContain(action);
        }
      }
    }
  });

  it("writes logs only to the log groups of the functions that run under the role", () => {
    // The audit-trail catch-up runs under the reconciler's role.
    const functionsOf = (name: FunctionName) =>
      name === "reconciler" ? [name, "catch-up"] : [name];
    for (const name of FUNCTION_NAMES) {
      const logs = allows(roleStatements(template, FUNCTIONS[name].role)).filter((s) =>
        asList(s.Action).some((action) => action.startsWith("logs:")),
      );

      expect(logs.flatMap((s) => asList(s.Resource))).toEqual(
        functionsOf(name).map(
          (each) =>
            `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/spacelift-role-vending-${PACKAGED_STAGE}-${each}:*`,
        ),
      );
    }
  });
});

describe("IAM: what the code calls", () => {
  /** `service:Operation` for every SDK command and paginator the adapters use. */
  // SQS authorises a batch call with its single action's permission (SQS developer guide,
  // "Amazon SQS API permissions": "SendMessageBatch ... sqs:SendMessage"); there is no
  // sqs:SendMessageBatch action to grant.
  const IAM_ACTION_OF_BATCH: Readonly<Record<string, string>> = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
  };
  const operationsCalled = () => {
    const adapters = join(SERVICE_DIR, "functions", "adapters");
    const operations = new Set<string>();
    for (const file of readdirSync(adapters).filter((name) => name.endsWith(".ts"))) {
      const source = readFileSync(join(adapters, file), "utf8");
      // Each command belongs to the client package it is imported from (a file may use two).
      const serviceOf = new Map<string, string>();
      for (const [, names = "", service = ""] of source.matchAll(
        /import\s*(?:type\s*)?\{([^}]*)\}\s*from "@aws-sdk\/client-([a-z0-9]+)"/g,
      )) {
        for (const name of names.split(","))
          serviceOf.set(name.replace(/^\s*type\s+/, "").trim(), service);
      }
      for (const [, command, paginated] of source.matchAll(
        /new ([A-Z]\w+)Command\(|paginate([A-Z]\w+)\(/g,
      )) {
        const service =
          serviceOf.get(command === undefined ? `paginate${paginated}` : `${command}Command`) ??
          "unknown";
        const operation = `${service}:${command ?? paginated}`;
        operations.add(IAM_ACTION_OF_BATCH[operation] ?? operation);
      }
    }
    return [...operations].sort();
  };

  it("grants every AWS operation the adapters call to some function", () => {
    // With target accounts configured (vendingRoleArns): sts:AssumeRole exists only then.
    const granted = new Set(
      [template, withTargetAccounts].flatMap((each) =>
        FUNCTION_NAMES.flatMap((name) =>
          allows(roleStatements(each, FUNCTIONS[name].role)).flatMap((s) => asList(s.Action)),
        ),
      ),
    );
    const called = operationsCalled();

    expect(called).toContain("iam:CreateRole");
    expect(called.filter((operation) => !granted.has(operation))).toEqual([]);
  });
});

describe("IAM: receiver", () => {
  const statements = () => allows(roleStatements(template, "ReceiverRole"));
  const grants = () =>
    statements()
      .filter((s) => !asList(s.Action).some((action) => action.startsWith("logs:")))
      .flatMap((s) =>
        asList(s.Action).map((action) => ({ action, resources: asList(s.Resource) })),
      );

  it("may only send to its queue and read (and decrypt through SSM) its secret parameters", () => {
    expect(grants()).toEqual([
      {
        action: "sqs:SendMessage",
        resources: [
          `arn:aws:sqs:${REGION}:${ACCOUNT}:spacelift-role-vending-${PACKAGED_STAGE}-events.fifo`,
        ],
      },
      {
        action: "ssm:GetParameter",
        resources: [
          `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/spacelift-role-vending/webhook-secret`,
          `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/spacelift-role-vending/webhook-secret-previous`,
        ],
      },
      { action: "kms:Decrypt", resources: [`arn:aws:kms:${REGION}:${ACCOUNT}:key/*`] },
    ]);
    expect(statementsGranting(statements(), "kms:Decrypt")[0]?.Condition).toEqual({
      StringEquals: { "kms:ViaService": `ssm.${REGION}.amazonaws.com` },
    });
  });
});

describe("receiver: Parameters and Secrets extension", () => {
  it("runs the receiver, and only the receiver, with AWS's arm64 extension layer for the region", () => {
    expect(fn("receiver").Properties.Layers).toEqual([
      `arn:aws:lambda:${REGION}:177933569100:layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:24`,
    ]);
    expect(fn("provisioner").Properties.Layers).toBeUndefined();
    expect(fn("reconciler").Properties.Layers).toBeUndefined();
  });

  it("bounds the extension's cache so that a rotated secret is seen within 5 minutes", () => {
    const env = fn("receiver").Properties.Environment.Variables;
    expect(Number(env.SSM_PARAMETER_STORE_TTL) + SECRETS_TTL_MS / 1000).toBeLessThanOrEqual(300);
    expect(env.PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED).toBeUndefined();
  });
});

describe.each(["ProvisionerRole", "ReconcilerRole"])("IAM: %s", (role) => {
  const statements = (options = {}, from = template) => roleStatements(from, role, options);

  it("changes roles only under the vended path and name prefix", () => {
    for (const statement of allows(statements())) {
      const writes = asList(statement.Action).filter((action) => IAM_WRITES.test(action));
      if (writes.length > 0) expect(asList(statement.Resource)).toEqual([VENDED_ROLES]);
    }
  });

  it("reads roles only under the vended path (ListRoles aside, which IAM cannot scope)", () => {
    for (const statement of allows(statements())) {
      const iamReads = asList(statement.Action).filter(
        (action) =>
          action.startsWith("iam:") &&
          !IAM_WRITES.test(action) &&
          !READS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS.has(action),
      );
      if (iamReads.length > 0) expect(asList(statement.Resource)).toEqual([ROLES_UNDER_PATH]);
    }
  });

  it("writes roles only when they carry the configured boundary (every action IAM keys on it)", () => {
    for (const action of [
      "iam:CreateRole",
      "iam:PutRolePermissionsBoundary",
      "iam:PutRolePolicy",
      "iam:DeleteRolePolicy",
      "iam:DetachRolePolicy",
      "iam:UpdateAssumeRolePolicy",
      "iam:UpdateRole",
      "iam:DeleteRole",
      "iam:AttachRolePolicy",
    ]) {
      const granting = statementsGranting(statements(), action);

      expect(granting, action).toHaveLength(1);
      expect(granting[0]?.Condition?.StringEquals, action).toEqual({
        "iam:PermissionsBoundary": PACKAGED_PARAMS.permissionsBoundaryArn,
      });
    }
  });

  it("is denied assuming any role", () => {
    const denies = statements().filter(
      (s) => s.Effect === "Deny" && asList(s.Action).includes("sts:AssumeRole"),
    );

    expect(denies).toHaveLength(1);
    expect(denies[0]?.Resource).toBe("*");
  });

  it("is denied removing a boundary when one is configured", () => {
    const denies = statements().filter(
      (s) => s.Effect === "Deny" && asList(s.Action).includes("iam:DeleteRolePermissionsBoundary"),
    );

    expect(denies.flatMap((s) => asList(s.Resource))).toContain(
      `arn:aws:iam::${ACCOUNT}:role/spacelift/*`,
    );
  });

  it("creates roles without a boundary condition only with the unsafe opt-out", () => {
    const withoutBoundary = statements({}, unsafe);
    const create = statementsGranting(withoutBoundary, "iam:CreateRole");

    expect(evaluateCondition(minimal, "HasPermissionsBoundary")).toBe(true);
    expect(evaluateCondition(unsafe, "HasPermissionsBoundary")).toBe(false);
    expect(create).toHaveLength(1);
    expect(create[0]?.Condition).toBeUndefined();
    expect(
      withoutBoundary.filter(
        (s) =>
          s.Effect === "Deny" &&
          asList(s.Action).includes("iam:DeleteRolePermissionsBoundary") &&
          asList(s.Resource).includes(`arn:aws:iam::${ACCOUNT}:role/spacelift/*`),
      ),
    ).toEqual([]);
  });

  it("attaches only the allowed managed policies", () => {
    const attach = statementsGranting(statements(), "iam:AttachRolePolicy");

    expect(attach).toHaveLength(1);
    expect(attach[0]?.Resource).toBe(VENDED_ROLES);
    expect(attach[0]?.Condition).toEqual({
      ArnEquals: { "iam:PolicyARN": PACKAGED_PARAMS.allowedPolicyArns.split(",") },
      StringEquals: { "iam:PermissionsBoundary": PACKAGED_PARAMS.permissionsBoundaryArn },
    });
  });

  it("may attach every managed policy the deployed configuration grants", async () => {
    const env = resolve<Record<string, string>>(fn("provisioner").Properties.Environment.Variables);
    const { permissions } = await loadVendingConfig(env);
    const granted = permissions === undefined ? [] : allowedPolicyArns(permissions);
    const [attach] = statementsGranting(statements(), "iam:AttachRolePolicy");

    expect(granted.length).toBeGreaterThan(0);
    expect(attach?.Condition?.ArnEquals?.["iam:PolicyARN"]).toEqual(
      expect.arrayContaining([...granted]),
    );
  });

  it("attaches no managed policy at all when none is allowed", () => {
    expect(statementsGranting(statements({}, minimal), "iam:AttachRolePolicy")).toEqual([]);
  });

  it("cannot change the functions' own roles, whatever the vended path", () => {
    const denied = statements()
      .filter((s) => s.Effect === "Deny")
      .filter((s) =>
        asList(s.Resource).includes(`arn:aws:iam::${ACCOUNT}:role/spacelift-role-vending/*`),
      )
      .flatMap((s) => asList(s.Action));
    const granted = allows(statements())
      .flatMap((s) => asList(s.Action))
      .filter((action) => IAM_WRITES.test(action));

    expect(new Set(denied)).toEqual(new Set(granted));
  });

  it("writes SSM parameters only under the parameter prefix", () => {
    const ssm = allows(statements()).filter((s) =>
      asList(s.Action).some((action) => action.startsWith("ssm:")),
    );
    const writes = ssm.filter((s) =>
      asList(s.Action).some((action) => /^ssm:(Put|Delete|AddTags|RemoveTags)/.test(action)),
    );

    expect(writes.flatMap((s) => asList(s.Resource))).toEqual([ROLE_ARN_PARAMETERS]);
    for (const statement of ssm) {
      for (const resource of asList(statement.Resource)) {
        expect([
          ROLE_ARN_PARAMETERS,
          `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/spacelift-role-vending/spacelift-api-key`,
        ]).toContain(resource);
      }
    }
  });

  it("may publish, re-tag (adding and removing tags) and delete parameters under the prefix", () => {
    const underPrefix = allows(statements())
      .filter((s) => asList(s.Resource).includes(ROLE_ARN_PARAMETERS))
      .flatMap((s) => asList(s.Action))
      .filter((action) => action.startsWith("ssm:"));

    expect(underPrefix.sort()).toEqual([
      "ssm:AddTagsToResource",
      "ssm:DeleteParameter",
      "ssm:GetParameter",
      "ssm:GetParametersByPath",
      "ssm:ListTagsForResource",
      "ssm:PutParameter",
      "ssm:RemoveTagsFromResource",
    ]);
    // Tags are removed only where they are added: the same statement, the same resource.
    expect(statementsGranting(statements(), "ssm:RemoveTagsFromResource")).toEqual(
      statementsGranting(statements(), "ssm:AddTagsToResource"),
    );
  });
});

describe("IAM: provisioner and reconciler extras", () => {
  const granted = (role: string) =>
    allows(roleStatements(template, role)).flatMap((s) => asList(s.Action));

  it("lets the provisioner consume its queue, and only the provisioner", () => {
    const consume = statementsGranting(
      roleStatements(template, "ProvisionerRole"),
      "sqs:ReceiveMessage",
    );

    expect(consume).toHaveLength(1);
    expect(consume[0]?.Action).toEqual([
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:ChangeMessageVisibility",
    ]);
    expect(consume[0]?.Resource).toBe(
      `arn:aws:sqs:${REGION}:${ACCOUNT}:spacelift-role-vending-${PACKAGED_STAGE}-events.fifo`,
    );
    // The reconciler only sends its plan (issue 14); it never consumes.
    expect(granted("ReconcilerRole").filter((action) => action.startsWith("sqs:"))).toEqual([
      "sqs:SendMessage",
    ]);
  });

  it.each([
    // UpdateItem: the per-space counts of stacks with roles (MAX_ROLES_PER_SPACE).
    [
      "ProvisionerRole",
      ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
    ],
    ["ReconcilerRole", ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]],
  ])("lets %s use only the ledger table, with %j", (role, actions) => {
    const dynamodb = allows(roleStatements(template, role)).filter((s) =>
      asList(s.Action).some((action) => action.startsWith("dynamodb:")),
    );

    expect(dynamodb.flatMap((s) => asList(s.Action)).sort()).toEqual(actions);
    expect(dynamodb.flatMap((s) => asList(s.Resource))).toEqual([
      `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/spacelift-role-vending-${PACKAGED_STAGE}-ledger`,
    ]);
  });

  it("lets only the reconciler list roles and read the Spacelift API key", () => {
    const apiKey = statementsGranting(
      roleStatements(template, "ReconcilerRole"),
      "ssm:GetParameter",
    ).flatMap((s) => asList(s.Resource));

    expect(granted("ReconcilerRole")).toContain("iam:ListRoles");
    expect(apiKey).toContain(
      `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/spacelift-role-vending/spacelift-api-key`,
    );
    expect(granted("ProvisionerRole")).not.toContain("iam:ListRoles");
    for (const role of ["ProvisionerRole", "ReceiverRole"]) {
      const parameters = statementsGranting(
        roleStatements(template, role),
        "ssm:GetParameter",
      ).flatMap((s) => asList(s.Resource));
      expect(parameters).not.toContain(
        `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/spacelift-role-vending/spacelift-api-key`,
      );
    }
  });
});

describe.each(["ProvisionerRole", "ReconcilerRole"])("IAM: %s and the target accounts", (role) => {
  const STS_ASSUME_ACTIONS = [
    "sts:AssumeRole",
    "sts:AssumeRoleWithWebIdentity",
    "sts:AssumeRoleWithSAML",
    "sts:TagSession",
    "sts:SetSourceIdentity",
  ];
  const stsStatements = (from: CloudFormationTemplate) =>
    roleStatements(from, role).filter((s) =>
      asList(s.Action).some((action) => action.startsWith("sts:")),
    );

  it("assumes no role at all when vendingRoleArns is empty (the default)", () => {
    const statements = stsStatements(minimal);

    expect(allows(statements)).toEqual([]);
    expect(
      statements
        .filter((s) => s.Effect === "Deny" && s.Resource === "*")
        .flatMap((s) => asList(s.Action))
        .sort(),
    ).toEqual([...STS_ASSUME_ACTIONS].sort());
  });

  it("may sts:AssumeRole exactly the listed vending roles, and is denied every other role and STS extra", () => {
    const statements = stsStatements(withTargetAccounts);

    expect(allows(statements)).toEqual([
      {
        Sid: "AssumeVendingRoles",
        Effect: "Allow",
        Action: "sts:AssumeRole",
        Resource: [...VENDING_ROLE_ARNS],
      },
    ]);
    expect(statements.filter((s) => s.Effect === "Deny")).toEqual([
      {
        Sid: "DenyAssumingRoles",
        Effect: "Deny",
        Action: STS_ASSUME_ACTIONS.filter((action) => action !== "sts:AssumeRole"),
        Resource: "*",
      },
      {
        Sid: "DenyAssumingOtherRoles",
        Effect: "Deny",
        Action: "sts:AssumeRole",
        NotResource: [...VENDING_ROLE_ARNS],
      },
    ]);
  });
});

describe("stackEnvironment", () => {
  const apiKey = `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/spacelift-role-vending/spacelift-api-key`;
  const provisionerEnvironment = (from: CloudFormationTemplate) =>
    resolve<Record<string, string>>(fn("provisioner", from).Properties.Environment.Variables, from);

  it("is off by default: STACK_ENVIRONMENT=false for both functions", () => {
    expect(provisionerEnvironment(minimal).STACK_ENVIRONMENT).toBe("false");
    expect(
      resolve<Record<string, string>>(
        fn("reconciler", minimal).Properties.Environment.Variables,
        minimal,
      ).STACK_ENVIRONMENT,
    ).toBe("false");
  });

  it("on, gives the provisioner the key's parameter, and the right to read and decrypt it through SSM", () => {
    const statements = roleStatements(withStackEnvironment, "ProvisionerRole");
    const read = statementsGranting(statements, "ssm:GetParameter").flatMap((s) =>
      asList(s.Resource),
    );
    const decrypt = statementsGranting(statements, "kms:Decrypt");

    expect(provisionerEnvironment(withStackEnvironment)).toMatchObject({
      STACK_ENVIRONMENT: "true",
      SPACELIFT_API_KEY_PARAMETER: "/spacelift-role-vending/spacelift-api-key",
    });
    expect(loadReconcilerConfig(provisionerEnvironment(withStackEnvironment)).apiKeyParameter).toBe(
      "/spacelift-role-vending/spacelift-api-key",
    );
    expect(read).toContain(apiKey);
    expect(decrypt).toHaveLength(1);
    expect(decrypt[0]?.Condition).toEqual({
      StringEquals: { "kms:ViaService": `ssm.${REGION}.amazonaws.com` },
    });
  });

  it("off, gives the provisioner neither", () => {
    const statements = roleStatements(minimal, "ProvisionerRole");

    expect(
      statementsGranting(statements, "ssm:GetParameter").flatMap((s) => asList(s.Resource)),
    ).not.toContain(apiKey);
    expect(statementsGranting(statements, "kms:Decrypt")).toEqual([]);
  });
});

describe("artefacts", () => {
  const run = promisify(execFile);
  /** Like `run`, but a failure keeps only the end of each stderr line (bundles are one line). */
  const runQuietly = async (file: string, args: string[], options: ExecFileOptions) => {
    try {
      return await run(file, args, { ...options, encoding: "utf8" });
    } catch (error) {
      const stderr = String((error as { stderr?: unknown }).stderr ?? "");
      const lines = stderr
        .split("\n")
        .map((line) => (line.length > 300 ? `…${line.slice(-300)}` : line));
      throw new Error(`bundle failed to load:\n${lines.join("\n")}`, { cause: error });
    }
  };
  let extracted: string;

  beforeAll(() => {
    extracted = mkdtempSync(join(tmpdir(), "srv-bundles-"));
  });
  afterAll(() => rmSync(extracted, { recursive: true, force: true }));

  it.each(FUNCTION_NAMES)("%s is zipped individually, under 1 MB, with no node_modules", (name) => {
    const size = service.zipSizes[`${name}.zip`];
    const entries = [...readZipEntries(join(service.directory, `${name}.zip`)).keys()];

    expect(size).toBeGreaterThan(0);
    expect(size).toBeLessThan(1024 * 1024);
    expect(entries).toContain(`functions/${name}.mjs`);
    expect(entries.filter((entry) => entry.startsWith("node_modules/"))).toEqual([]);
    // Its own handler and the code-split chunks, never another function's handler.
    const handlers = entries.filter((entry) =>
      FUNCTION_NAMES.some((other) => entry === `functions/${other}.mjs`),
    );
    expect(handlers).toEqual([`functions/${name}.mjs`]);
  });

  /** Every packaged function: its zip and the handler file in it. */
  const ZIPS = [
    ...FUNCTION_NAMES.map((name) => [`${name}.zip`, `functions/${name}.mjs`] as const),
    ["catchUp.zip", "functions/catch-up.mjs"] as const,
  ];

  it.each(ZIPS)(
    "%s holds exactly the files its handler reaches by import or import(), with their maps",
    async (zip, handlerFile) => {
      const directory = join(extracted, `graph-${zip}`);
      extractZip(join(service.directory, zip), directory);
      const entries = [...readZipEntries(join(service.directory, zip)).keys()];

      const { reachable } = await zipImportGraph(directory, handlerFile);

      // The lazy chunks (yaml, the SDK's event-stream codec, STS) are reached too.
      expect(reachable.size).toBeGreaterThan(1);
      expect(entries.toSorted()).toEqual(
        [...reachable].flatMap((file) => [file, `${file}.map`]).toSorted(),
      );
    },
  );

  it.each(["provisioner", "reconciler"] as const)(
    "%s's zip reaches STS only through import(): a cold start without accounts never loads it",
    async (name) => {
      const directory = join(extracted, `sts-${name}`);
      extractZip(join(service.directory, `${name}.zip`), directory);
      const { reachable, startup } = await zipImportGraph(directory, `functions/${name}.mjs`);
      /** Files whose source map names a module of @aws-sdk/client-sts. */
      const withSts = (files: ReadonlySet<string>) =>
        [...files].filter((file) => {
          const map = JSON.parse(readFileSync(join(directory, `${file}.map`), "utf8")) as {
            sources: string[];
          };
          return map.sources.some((source) => source.includes("node_modules/@aws-sdk/client-sts/"));
        });

      expect(withSts(startup)).toEqual([]);
      expect(withSts(reachable)).not.toEqual([]);
    },
  );

  /**
   * Extracts a function's zip into `directory` and imports its handler in a fresh Node process,
   * under the function's deployed environment plus `env`; resolves to `typeof handler` and the Node.js major it ran on.
   */
  const importFromZip = async (
    name: FunctionName,
    directory: string,
    env: Record<string, string> = {},
  ): Promise<string> =>
    importBundle(`${name}.zip`, `functions/${name}.mjs`, fn(name), directory, env);

  /** {@link importFromZip} for any packaged function: its zip, handler file and resource. */
  const importBundle = async (
    zip: string,
    handlerFile: string,
    resource: CloudFormationTemplate,
    directory: string,
    env: Record<string, string> = {},
  ): Promise<string> => {
    extractZip(join(service.directory, zip), directory);
    const bundle = join(directory, handlerFile);
    // Under the Lambda runtime's Node.js (24), which the zip must load on; it prints which.
    const { stdout } = await runQuietly(
      lambdaNodeBinary(),
      [
        "--input-type=module",
        "-e",
        `const m = await import(${JSON.stringify(bundle)}); console.log(typeof m.handler + " on node " + process.versions.node.split(".")[0]);`,
      ],
      {
        cwd: directory,
        env: {
          PATH: process.env.PATH ?? "",
          AWS_REGION: REGION,
          AWS_ACCESS_KEY_ID: "testing",
          AWS_SECRET_ACCESS_KEY: "testing",
          AWS_SESSION_TOKEN: "testing",
          AWS_LAMBDA_FUNCTION_NAME: resource.Properties.FunctionName,
          POWERTOOLS_METRICS_DISABLED: "true",
          POWERTOOLS_LOG_LEVEL: "SILENT",
          ...resolve<Record<string, string>>(resource.Properties.Environment.Variables),
          ...env,
        },
      },
    );
    return stdout.trim();
  };

  it.each(FUNCTION_NAMES)(
    "%s's bundle loads as ES module under its deployed environment and exports handler",
    async (name) => {
      expect(await importFromZip(name, join(extracted, name))).toBe("function on node 24");
    },
  );

  it("the catch-up's bundle loads as ES module under its deployed environment and exports handler", async () => {
    expect(
      await importBundle(
        "catchUp.zip",
        "functions/catch-up.mjs",
        resources().CatchUpLambdaFunction as CloudFormationTemplate,
        join(extracted, "catch-up"),
      ),
    ).toBe("function on node 24");
  });

  it.each(["provisioner", "reconciler"] as const)(
    "%s's zip carries the STS chunks a permissions file with target accounts loads",
    async (name) => {
      const accounts = JSON.stringify({
        accounts: [
          {
            id: "222222222222",
            vendingRoleArn:
              "arn:aws:iam::222222222222:role/spacelift-role-vending/spacelift-role-vending",
            spaces: ["production-*"],
            permissionsBoundaryArn:
              "arn:aws:iam::222222222222:policy/spacelift-role-vending/spacelift-role-vending-boundary",
          },
        ],
        default: { managedPolicyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"] },
      });

      expect(
        await importFromZip(name, join(extracted, `${name}-accounts`), {
          DEFAULT_POLICY_ARNS: "",
          PERMISSIONS_CONFIG: accounts,
        }),
      ).toBe("function on node 24");
    },
  );

  it.each(["provisioner", "reconciler"] as const)(
    "%s's zip carries the yaml chunk a YAML permissions configuration loads",
    async (name) => {
      const yamlConfig = [
        "default:",
        "  managedPolicyArns:",
        "    - arn:aws:iam::aws:policy/ReadOnlyAccess",
      ].join("\n");

      expect(
        await importFromZip(name, join(extracted, `${name}-yaml`), {
          DEFAULT_POLICY_ARNS: "",
          PERMISSIONS_CONFIG: yamlConfig,
        }),
      ).toBe("function on node 24");
    },
  );
});
