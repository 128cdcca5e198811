/**
 * Time to usable role: from the receiver's 202 to the role ARN parameter being readable in
 * SSM, through the whole local pipeline (testkit/lambda/local-pipeline.ts: the receiver handler
 * behind HTTP, a Lambda-like poller feeding the FIFO queue to the provisioner handler), against
 * moto_server. Events are sent one at a time, so this is latency, not queueing.
 */
import { GetParameterCommand, ParameterNotFound, SSMClient } from "@aws-sdk/client-ssm";
import { ApiCallCounter } from "../../testkit/aws/api-calls.ts";
import { localClientConfig } from "../../testkit/aws/local-aws.ts";
import { startLocalPipeline } from "../../testkit/lambda/local-pipeline.ts";
import { auditEvent, postDelivery, signedDelivery } from "../../testkit/spacelift/events.ts";
import { ACCOUNT, WEBHOOK_SECRET, withBenchAws } from "../lib/local-aws-env.ts";
import { type BenchOptions, formatMs, type SectionResult } from "../lib/report.ts";
import { roundSummary, summarize } from "../lib/stats.ts";

const POLICIES = 2;
const POLL_INTERVAL_MS = 5;
const WARMUP_EVENTS = 3;
const SPACE = "platform-01HND497T9JKR76MR3KA2CDJHP";

export async function run(options: BenchOptions): Promise<SectionResult> {
  return withBenchAws({ policies: POLICIES, boundary: true }, async (moto, resources) => {
    let batchesDone = 0;
    let batchDoneAt = 0;
    const pipeline = await startLocalPipeline({
      endpoint: moto.endpoint,
      queueUrl: resources.queueUrl,
      port: 0,
      onBatch: () => {
        batchesDone++;
        batchDoneAt = performance.now();
      },
    });
    const ssm = new SSMClient(localClientConfig(moto.endpoint));
    const polls = new ApiCallCounter();
    polls.attach(ssm);
    const published: number[] = [];
    const processed: number[] = [];
    const accept: number[] = [];
    try {
      for (let index = 0; index < WARMUP_EVENTS + options.roleLatencyEvents; index++) {
        const stack = `latency-${index}`;
        const delivery = signedDelivery(
          auditEvent("stack.create", { account: ACCOUNT, stack, space: SPACE }),
          WEBHOOK_SECRET,
        );
        const batchesBefore = batchesDone;
        const sent = performance.now();
        const answer = await postDelivery(pipeline.url, delivery);
        const accepted = performance.now();
        if (answer.status !== 202) {
          throw new Error(`receiver answered ${answer.status}: ${answer.body}`);
        }
        const name = `/spacelift/${ACCOUNT}/stacks/${stack}/role-arn`;
        await waitForParameter(ssm, name);
        const seen = performance.now();
        // The batch ends (ledger write, message deleted) after the parameter is published.
        while (batchesDone === batchesBefore)
          await new Promise((resolve) => setTimeout(resolve, 1));
        if (index < WARMUP_EVENTS) continue;
        accept.push(accepted - sent);
        published.push(seen - accepted);
        processed.push(batchDoneAt - accepted);
      }
    } finally {
      await pipeline.stop();
      ssm.destroy();
    }
    const latency = summarize(published);
    const pipelineDone = summarize(processed);
    const acceptLatency = summarize(accept);
    return {
      section: "5",
      title: "Time to usable role (202 accepted → ARN parameter readable), local pipeline on moto",
      rows: [
        {
          metric: "p50",
          value: `${formatMs(latency.median)} (p25–p75 ${formatMs(latency.p25)}–${formatMs(latency.p75)}, ${latency.n} events)`,
        },
        {
          metric: "p99",
          value: `${formatMs(latency.p99)} (min ${formatMs(latency.min)}, max ${formatMs(latency.max)})`,
        },
        {
          metric: "whole batch done (ledger written, message deleted)",
          value: `${formatMs(pipelineDone.median)} p50, ${formatMs(pipelineDone.p99)} p99 after the 202`,
        },
        {
          metric: "webhook answer (POST → 202)",
          value: `${formatMs(acceptLatency.median)} p50, ${formatMs(acceptLatency.p99)} p99`,
        },
      ],
      notes: [
        `Sequential stack.create events (${WARMUP_EVENTS} warm-up events not counted), ${POLICIES} attached policies and a boundary; SSM polled every ${POLL_INTERVAL_MS} ms. The path: SendMessage → FIFO long-poll receive → ledger GetItem → CreateRole → ${POLICIES}× AttachRolePolicy → GetRole → PutParameter → ledger PutItem → DeleteMessageBatch.`,
        "Limiting factor: round trips — about 8 sequential AWS calls after the queue hands the message over; moto answers in ~3–7 ms each on loopback, real AWS in ~20–100 ms (IAM writes are the slow ones), and Lambda's SQS poller adds its own pickup delay. IAM's eventual consistency (seconds) is not modelled by moto.",
      ],
      data: {
        events: latency.n,
        warmupEvents: WARMUP_EVENTS,
        attachedPolicies: POLICIES,
        pollIntervalMs: POLL_INTERVAL_MS,
        acceptedToPublishedMs: roundSummary(latency, 1),
        acceptedToBatchDoneMs: roundSummary(pipelineDone, 1),
        postTo202Ms: roundSummary(acceptLatency, 2),
        ssmPolls: polls.snapshot().calls,
      },
    };
  });
}

async function waitForParameter(ssm: SSMClient, name: string): Promise<void> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    try {
      await ssm.send(new GetParameterCommand({ Name: name }));
      return;
    } catch (error) {
      if (!(error instanceof ParameterNotFound)) throw error;
    }
    if (performance.now() > deadline) throw new Error(`${name} was not published within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}
