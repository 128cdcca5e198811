/**
 * Starts moto's `moto_server` (a real AWS emulator speaking the real wire protocols) on a free
 * loopback port, for the local run and the integration tests.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export interface MotoServer {
  readonly endpoint: string;
  readonly process: ChildProcess;
  /** Drops every resource (POST /moto-api/reset). */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export const MOTO_INSTALL_HINT =
  'moto_server was not found on PATH. Install it with: pip install "moto[server]" (moto 5.x), or point AWS_ENDPOINT_URL at a running AWS emulator.';

export function findMotoServer(searchPath = process.env.PATH ?? ""): string | undefined {
  const found = spawnSync("/bin/sh", ["-c", "command -v moto_server"], {
    encoding: "utf8",
    env: { ...process.env, PATH: searchPath },
  });
  const path = found.stdout.trim();
  return found.status === 0 && path !== "" ? path : undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startMotoServer(
  options: { timeoutMs?: number; searchPath?: string } = {},
): Promise<MotoServer> {
  const binary = findMotoServer(options.searchPath);
  if (binary === undefined) throw new Error(MOTO_INSTALL_HINT);
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(binary, ["-H", "127.0.0.1", "-p", String(port)], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, MOTO_IAM_LOAD_MANAGED_POLICIES: "true" },
  });
  // If this process ends without calling stop() (an uncaught error, process.exit), its
  // moto_server goes with it: kill() is synchronous, so it runs inside an 'exit' listener.
  const killOnExit = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  };
  process.once("exit", killOnExit);
  child.once("exit", () => process.off("exit", killOnExit));
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`moto_server exited with code ${child.exitCode}: ${stderr}`);
    }
    try {
      const response = await fetch(`${endpoint}/moto-api/`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`moto_server did not start on ${endpoint}: ${stderr}`);
    }
    await sleep(100);
  }
  return {
    endpoint,
    process: child,
    async reset() {
      await fetch(`${endpoint}/moto-api/reset`, { method: "POST" });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await Promise.race([exited, sleep(5000).then(() => child.kill("SIGKILL"))]);
    },
  };
}
