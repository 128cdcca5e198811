/**
 * `npm run reconcile`: the backfill of an account with hundreds of stacks, interrupted and
 * resumed from its checkpoint, and the dry run, through the CLI's own entry point against moto
 * and the fake Spacelift.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { paginateListRoles } from "@aws-sdk/client-iam";
import { paginateGetParametersByPath } from "@aws-sdk/client-ssm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createProgressBar, runReconcileCli } from "../../../scripts/reconcile.ts";
import { applyQueued } from "../../../testkit/fakes/plan-queue.ts";
import {
  type Harness,
  LEDGER_TABLE,
  PRODUCTION,
  startHarness,
  writeCommands,
} from "../../../testkit/reconcile-harness.ts";

let h: Harness;
let directory: string;

beforeAll(async () => {
  h = await startHarness();
  directory = mkdtempSync(join(tmpdir(), "backfill-"));
});

afterAll(async () => {
  await h?.stop();
  rmSync(directory, { recursive: true, force: true });
});

beforeEach(async () => {
  await h.reset();
});

const STACKS = 300;

function listManyStacks(): void {
  h.spacelift.state.addSpace({
    id: PRODUCTION,
    name: "production",
    parentSpace: "root",
    labels: [],
  });
  for (let index = 0; index < STACKS; index++) {
    h.spacelift.state.addStack({
      id: `stack-${String(index).padStart(3, "0")}`,
      space: index % 2 === 0 ? "root" : PRODUCTION,
      labels: [],
    });
  }
}

/** Captures what the CLI writes; `onWrite` sees each chunk. */
function captureStream(onWrite: (text: string) => void = () => {}) {
  const chunks: string[] = [];
  return {
    isTTY: false,
    write(text: string) {
      chunks.push(text);
      onWrite(text);
      return true;
    },
    text: () => chunks.join(""),
  };
}

async function countRolesAndParameters(): Promise<{ roles: number; parameters: number }> {
  let roles = 0;
  for await (const page of paginateListRoles({ client: h.iam }, { PathPrefix: "/spacelift/" })) {
    roles += page.Roles?.length ?? 0;
  }
  let parameters = 0;
  for await (const page of paginateGetParametersByPath(
    { client: h.ssm },
    { Path: "/spacelift/acme", Recursive: true },
  )) {
    parameters += (page.Parameters ?? []).filter(({ Name }) => Name?.endsWith("/role-arn")).length;
  }
  return { roles, parameters };
}

/** `--apply` runs the provisioner in-process: it needs the ledger table (the harness's). */
const applying = () => ({ ...h.env, LEDGER_TABLE });

const count = (commands: readonly string[], name: string) =>
  commands.filter((command) => command === name).length;

describe("npm run reconcile -- --backfill", () => {
  // 300 stacks applied through the provisioner: about 25 s alone, far longer when the machine
  // runs other suites; the default 60 s cut it off mid-run and its writes then landed in the
  // next test.
  it("provisions 300 stacks and their spaces, and a rerun after an interruption skips what the checkpoint lists", async () => {
    listManyStacks();
    const total = STACKS + 2;
    const checkpoint = join(directory, "checkpoint.json");
    const controller = new AbortController();
    // Ctrl-C once the progress lines report at least a tenth of the work done.
    const interruptedErr = captureStream((text) => {
      const done = Number(/backfill (\d+)\//.exec(text)?.[1] ?? 0);
      if (done >= total / 10) controller.abort();
    });
    const interruptedOut = captureStream();

    const interrupted = await runReconcileCli(
      ["--backfill", "--apply", "--checkpoint", checkpoint],
      {
        env: applying(),
        stdout: interruptedOut,
        stderr: interruptedErr,
        signal: controller.signal,
      },
    );

    expect(interrupted).toBe(130);
    expect(interruptedOut.text()).toMatch(/Interrupted: run the same command again to resume/);
    const saved = JSON.parse(readFileSync(checkpoint, "utf8")) as { completed: string[] };
    const completed = saved.completed.length;
    expect(completed).toBeGreaterThanOrEqual(total / 10);
    expect(completed).toBeLessThan(total);
    expect(await countRolesAndParameters()).toEqual({ roles: completed, parameters: completed });

    h.commands.length = 0;
    const resumedOut = captureStream();
    const resumedErr = captureStream();
    const resumed = await runReconcileCli(["--backfill", "--apply", "--checkpoint", checkpoint], {
      env: applying(),
      stdout: resumedOut,
      stderr: resumedErr,
    });

    expect(resumed).toBe(0);
    expect(resumedOut.text()).toContain(
      `${total}/${total} resources, ${total - completed} created, 0 repaired, 0 already right, ${completed} skipped (already in checkpoint), 0 failed.`,
    );
    expect(count(h.commands, "CreateRoleCommand")).toBe(total - completed);
    expect(resumedErr.text()).toContain(`backfill ${total}/${total} (100%)`);
    expect(await countRolesAndParameters()).toEqual({ roles: total, parameters: total });
    expect(existsSync(checkpoint)).toBe(false);
  }, 240_000);

  it("refuses a checkpoint written for another Spacelift account", async () => {
    listManyStacks();
    const checkpoint = join(directory, "other-account.json");
    writeFileSync(
      checkpoint,
      JSON.stringify({
        version: 1,
        spaceliftHostname: "other.app.spacelift.io",
        awsAccountId: "123456789012",
        completed: ["stack:stack-000"],
      }),
    );
    const stderr = captureStream();

    const status = await runReconcileCli(["--backfill", "--checkpoint", checkpoint], {
      env: h.env,
      stdout: captureStream(),
      stderr,
    });

    expect(status).toBe(2);
    expect(stderr.text()).toMatch(/belongs to other\.app\.spacelift\.io/);
    expect(writeCommands(h.commands)).toEqual([]);
  });
});

describe("npm run reconcile (the plan's destination)", () => {
  it("sends the plan to EVENT_QUEUE_URL without writing to IAM or SSM, and the provisioner applies it", async () => {
    h.spacelift.state.addStack({ id: "payments-api", space: "root", labels: [] });
    const stdout = captureStream();

    const status = await runReconcileCli([], { env: h.env, stdout, stderr: captureStream() });
    const planned = [...h.commands];
    const before = await countRolesAndParameters();
    const applied = await applyQueued(h.queue, await h.provisionerDeps());

    expect(status).toBe(0);
    expect(stdout.text()).toMatch(/^Planned and enqueued for Spacelift account acme/);
    expect(stdout.text()).toContain("2 messages enqueued in 1 call; the provisioner applies them.");
    expect(writeCommands(planned)).toEqual([]);
    expect(before).toEqual({ roles: 0, parameters: 0 });
    expect(applied.map(({ result }) => result)).toEqual(["applied", "applied"]);
    expect(await countRolesAndParameters()).toEqual({ roles: 2, parameters: 2 });
  });

  it("refuses a real run with neither EVENT_QUEUE_URL nor --apply (status 2), writing nothing", async () => {
    h.spacelift.state.addStack({ id: "payments-api", space: "root", labels: [] });
    const stderr = captureStream();

    const status = await runReconcileCli([], {
      env: { ...h.env, EVENT_QUEUE_URL: undefined },
      stdout: captureStream(),
      stderr,
    });

    expect(status).toBe(2);
    expect(stderr.text()).toMatch(/EVENT_QUEUE_URL is not set: pass --apply/);
    expect(writeCommands(h.commands)).toEqual([]);
  });
});

describe("npm run reconcile -- --dry-run", () => {
  it("prints the plan with reasons and exits 0, changing nothing (as a real process)", async () => {
    h.spacelift.state.addStack({ id: "payments-api", space: "root", labels: [] });

    const { stdout } = await promisify(execFile)(
      "node_modules/.bin/tsx",
      ["scripts/reconcile.ts", "--dry-run"],
      { env: { ...process.env, ...h.env } },
    );

    expect(stdout).toMatch(/^DRY RUN, nothing was changed\. Plan for Spacelift account acme/);
    expect(stdout).toMatch(
      / {2}create +stack:payments-api +Spacelift lists this stack; it has no role/,
    );
    expect(stdout).toMatch(/ {2}create +space:root +Spacelift lists this space; it has no role/);
    expect(stdout).toMatch(/0 in sync · 2 create/);
    expect(await countRolesAndParameters()).toEqual({ roles: 0, parameters: 0 });
  });

  it("rejects an unknown option with the usage and status 2", async () => {
    const stderr = captureStream();

    const status = await runReconcileCli(["--dry-rn"], {
      env: h.env,
      stdout: captureStream(),
      stderr,
    });

    expect(status).toBe(2);
    expect(stderr.text()).toMatch(/Unknown option '--dry-rn'[\s\S]*usage: npm run reconcile/);
  });
});

describe("the backfill progress bar", () => {
  const progress = (done: number) => ({
    total: 200,
    done,
    skipped: 0,
    created: done,
    updated: 0,
    unchanged: 0,
    failed: 0,
  });

  it("redraws one line in place on a terminal", () => {
    const stream = { ...captureStream(), isTTY: true };
    const bar = createProgressBar(stream);

    for (let done = 0; done <= 200; done += 50) bar.update(progress(done));
    bar.finish();

    const text = stream.text();
    expect(text.split("\n")).toHaveLength(2);
    expect(text).toContain("\r\x1b[2K[###############...............] 100/200 (50%) created 100");
    expect(
      text.endsWith(
        "[##############################] 200/200 (100%) created 200 · repaired 0 · unchanged 0 · skipped 0 · failed 0\n",
      ),
    ).toBe(true);
  });

  it("writes a line per tenth of the work when stderr is not a terminal", () => {
    const stream = captureStream();
    const bar = createProgressBar(stream);

    for (let done = 0; done <= 200; done++) bar.update(progress(done));
    bar.finish();

    expect(stream.text().split("\n").filter(Boolean)).toHaveLength(11);
  });
});
