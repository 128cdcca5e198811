/**
 * Ties a long-running local command to the processes that started it. `npm start` runs
 * npm → sh → tsx → this program: a SIGTERM to npm's pid (an IDE's stop button, a process
 * manager, `kill <pid>`) makes npm and sh exit without the signal reaching tsx, which is
 * reparented and keeps the program, its port and its moto_server alive. Ctrl-C only works
 * because the terminal signals the whole process group. Node has no prctl(PR_SET_PDEATHSIG),
 * so the program watches the chain of its ancestors instead and stops when any of them exits.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** The parent of `pid`, or undefined once it is gone. */
function parentOf(pid: number): number | undefined {
  try {
    if (process.platform === "linux") {
      // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may contain spaces and parentheses.
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // A zombie has exited; its parent simply has not reaped it yet.
      if (fields[0] === "Z") return undefined;
      return Number(fields[1]);
    }
    const ppid = Number(
      execFileSync("ps", ["-o", "ppid=", "-p", String(pid)], { encoding: "utf8" }).trim(),
    );
    return Number.isInteger(ppid) && ppid > 0 ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/** This process's ancestors, nearest first, up to (not including) pid 1. */
export function ancestors(): number[] {
  const chain: number[] = [];
  let pid: number | undefined = process.ppid;
  while (pid !== undefined && pid > 1 && chain.length < 64) {
    chain.push(pid);
    pid = parentOf(pid);
  }
  return chain;
}

/**
 * Calls `onExit` once, as soon as any process that was an ancestor of this one when this was
 * called has exited (this process was reparented somewhere along the chain). The check runs
 * every `intervalMs` on an unref'd timer, so it never keeps the process alive by itself.
 * Returns a function that stops watching.
 */
export function watchAncestors(onExit: () => void, intervalMs = 500): () => void {
  const chain = ancestors();
  const timer = setInterval(() => {
    // Each recorded ancestor must still be the parent of the one below it (and of us).
    let child = process.pid;
    for (const ancestor of chain) {
      if (parentOf(child) !== ancestor) {
        clearInterval(timer);
        onExit();
        return;
      }
      child = ancestor;
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
