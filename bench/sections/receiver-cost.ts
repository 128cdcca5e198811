/**
 * Receiver cost: `receiveWebhook` end to end (HMAC verification, JSON + schema parsing,
 * validation, enqueue) over realistic signed deliveries, into an in-memory EventQueue so only
 * the receiver's own CPU is measured. One process, one thread: "one core".
 */
import { readFileSync } from "node:fs";
import { EVENT_CLOCK_SKEW_MS } from "../../functions/core/audit-event.ts";
import type { SpaceId } from "../../functions/core/identifiers.ts";
import type { EventQueue } from "../../functions/core/ports.ts";
import { receiveWebhook, WEBHOOK_PATH, type WebhookRequest } from "../../functions/core/receive.ts";
import { mulberry32 } from "../../testkit/random.ts";
import { auditEvent, type ResourceAction, signedDelivery } from "../../testkit/spacelift/events.ts";
import { type BenchOptions, formatCount, formatMs, type SectionResult } from "../lib/report.ts";
import { roundSummary, summarize } from "../lib/stats.ts";

const ACCOUNT = "acme";
const SECRET = "bench-webhook-secret-0123456789abcdef";
const WARMUP_EVENTS = 3000;

/** The share of each kind of delivery: mostly stack changes, some spaces, some ignored. */
const MIX: readonly (readonly [DeliveryKind, number])[] = [
  ["stack.update", 0.3],
  ["stack.create", 0.2],
  ["stack.delete", 0.1],
  ["space.create", 0.08],
  ["space.update", 0.05],
  ["space.delete", 0.02],
  ["audit_trail_webhook.set", 0.1],
  ["run.state", 0.15],
];
type DeliveryKind = ResourceAction | "audit_trail_webhook.set" | "run.state";

const ULID_CHARS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** The deliveries are dated from here on, about a second apart (at most 1,001 ms). */
const FIRST_TIMESTAMP = 1_764_000_000_000;

export function buildDeliveries(count: number, seed = 42): WebhookRequest[] {
  // mulberry32, so every run sends the same mix of events.
  const random = mulberry32(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const ulid = () => Array.from({ length: 26 }, () => pick([...ULID_CHARS])).join("");
  const spaces = Array.from({ length: 20 }, (_, index) => `team-${index}-${ulid()}`);
  const setFixture = JSON.parse(
    readFileSync(
      new URL("../../testkit/spacelift/fixtures/audit_trail_webhook.set.json", import.meta.url),
      "utf8",
    ),
  ) as Record<string, unknown>;
  const deliveries: WebhookRequest[] = [];
  let timestamp = FIRST_TIMESTAMP;
  for (let index = 0; index < count; index++) {
    timestamp += 1 + Math.floor(random() * 1000);
    const kind = chooseKind(random());
    const stack = `service-${Math.floor(random() * 2000)}`;
    const space = pick(spaces);
    const labels = random() < 0.5 ? ["team:payments", "env:production"] : [];
    let payload: unknown;
    if (kind === "audit_trail_webhook.set") {
      payload = { ...setFixture, account: ACCOUNT, timestamp };
    } else if (kind === "run.state") {
      payload = runStatePayload(stack, space, timestamp);
    } else {
      payload = auditEvent(kind, { account: ACCOUNT, stack, space, labels, timestamp });
    }
    const delivery = signedDelivery(payload, SECRET);
    deliveries.push({
      method: "POST",
      path: WEBHOOK_PATH,
      headers: delivery.headers,
      body: Buffer.from(delivery.body),
    });
  }
  return deliveries;
}

function chooseKind(draw: number): DeliveryKind {
  let cumulative = 0;
  for (const [kind, share] of MIX) {
    cumulative += share;
    if (draw < cumulative) return kind;
  }
  return "stack.update";
}

/** The shape of a run state-change delivery ("Include runs" on the webhook). */
function runStatePayload(stack: string, space: string, timestamp: number): unknown {
  return {
    account: ACCOUNT,
    state: "FINISHED",
    stateVersion: 7,
    timestamp,
    run: {
      id: "01HNDA7Q4Y6J9KX2V3W8E5R0TB",
      branch: "main",
      commit: { hash: "9f1c2ab", message: "bump", authorLogin: "jdoe" },
      createdAt: timestamp - 60_000,
      delta: { added: 1, changed: 0, deleted: 0, resources: 1 },
      triggeredBy: "github::jdoe",
      type: "TRACKED",
    },
    stack: { id: stack, name: stack, description: "", labels: [], space },
  };
}

class MemoryQueue implements EventQueue {
  count = 0;
  last: unknown;
  async enqueue(message: { body: string; group: string; deduplicationId: string }) {
    this.count++;
    this.last = message;
  }
}

interface Pass {
  readonly eventsPerSecond: number;
  readonly latenciesMs: number[];
  readonly statuses: Record<number, number>;
}

async function runPass(deliveries: readonly WebhookRequest[]): Promise<Pass> {
  const queue = new MemoryQueue();
  const deps = {
    account: ACCOUNT,
    defaultSpaceId: "root" as SpaceId,
    secrets: async () => [SECRET] as const,
    queue,
    // The receiver's clock stands just after the last delivery, and its replay window spans
    // them all, so every delivery goes through the whole receiver as a fresh one would.
    now: () => FIRST_TIMESTAMP + deliveries.length * 1001,
    eventWindow: { maxAgeMs: deliveries.length * 1001 + 60_000, maxSkewMs: EVENT_CLOCK_SKEW_MS },
  };
  const latenciesMs = new Array<number>(deliveries.length);
  const statuses: Record<number, number> = {};
  const started = performance.now();
  for (const [index, request] of deliveries.entries()) {
    const before = performance.now();
    const { response } = await receiveWebhook(request, deps);
    latenciesMs[index] = performance.now() - before;
    statuses[response.statusCode] = (statuses[response.statusCode] ?? 0) + 1;
  }
  const elapsed = performance.now() - started;
  return { eventsPerSecond: (deliveries.length / elapsed) * 1000, latenciesMs, statuses };
}

export async function run(options: BenchOptions): Promise<SectionResult> {
  const deliveries = buildDeliveries(options.receiverEvents);
  // Warm up the JIT and zod's compiled schemas, as a warm Lambda container would be.
  await runPass(buildDeliveries(WARMUP_EVENTS, 7));
  const passes: Pass[] = [];
  for (let runIndex = 0; runIndex < options.receiverRuns; runIndex++) {
    passes.push(await runPass(deliveries));
  }
  const throughput = summarize(passes.map((pass) => pass.eventsPerSecond));
  const p50 = summarize(passes.map((pass) => summarize(pass.latenciesMs).median));
  const p99 = summarize(passes.map((pass) => summarize(pass.latenciesMs).p99));
  const max = summarize(passes.map((pass) => summarize(pass.latenciesMs).max));
  const statuses = passes[0]?.statuses ?? {};
  const runs = `${passes.length} runs × ${formatCount(deliveries.length)} events`;
  return {
    section: "1",
    title: "Receiver cost (verify + parse + validate + enqueue, in-memory queue)",
    rows: [
      {
        metric: "throughput, one core",
        value: `${formatCount(throughput.median)} events/s (min–max ${formatCount(throughput.min)}–${formatCount(throughput.max)}, ${runs})`,
        target: "> 5,000 events/s",
        met: throughput.median > 5000,
      },
      {
        metric: "p50 latency",
        value: `${formatMs(p50.median)} (min–max ${formatMs(p50.min)}–${formatMs(p50.max)})`,
      },
      {
        metric: "p99 latency",
        value: `${formatMs(p99.median)} (min–max ${formatMs(p99.min)}–${formatMs(p99.max)})`,
        target: "< 1 ms",
        met: p99.median < 1,
      },
      {
        metric: "max latency (GC pauses)",
        value: `${formatMs(max.median)} (min–max ${formatMs(max.min)}–${formatMs(max.max)})`,
      },
      {
        metric: "responses per run",
        value: Object.entries(statuses)
          .map(([status, count]) => `${status}: ${formatCount(count)}`)
          .join(", "),
      },
    ],
    notes: [
      "Mix: 30% stack.update, 20% stack.create, 10% stack.delete, 15% space.*, 10% audit_trail_webhook.set, 15% run state-change payloads (ignored: 200).",
      "Limiting factor: CPU in one thread — HMAC-SHA256 over the body, JSON.parse and zod validation; the enqueue is in memory. In Lambda the SQS SendMessage round trip (~5–20 ms) dominates.",
    ],
    data: {
      events: deliveries.length,
      runs: passes.length,
      warmupEvents: WARMUP_EVENTS,
      eventsPerSecond: roundSummary(throughput, 0),
      p50Ms: roundSummary(p50, 4),
      p99Ms: roundSummary(p99, 4),
      maxMs: roundSummary(max, 3),
      statusesPerRun: statuses,
    },
  };
}
