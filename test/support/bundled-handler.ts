/**
 * Runs a bundled Lambda handler as it ships: imports the bundle in a fresh Node process with
 * only the given environment (nothing of the test runner's), hands the handler one event and
 * returns what it answered and what the process printed (Powertools logs errors to stderr).
 */
import { execFile } from "node:child_process";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const MARKER = "RESULT ";

export async function invokeBundledHandler(
  entryFile: string,
  event: unknown,
  env: Record<string, string>,
  options: {
    cwd?: string;
    /** JavaScript run after the import (Lambda's INIT phase) and before the first invocation. */
    afterImport?: string;
  } = {},
): Promise<{ result: unknown; output: string }> {
  const script = `const { handler } = await import(${JSON.stringify(pathToFileURL(entryFile).href)});
${options.afterImport ?? ""}
const result = await handler(JSON.parse(process.env.TEST_EVENT), { getRemainingTimeInMillis: () => 60000 });
console.log(${JSON.stringify(MARKER)} + JSON.stringify(result));`;
  const { stdout, stderr } = await run(process.execPath, ["--input-type=module", "-e", script], {
    ...(options.cwd !== undefined && { cwd: options.cwd }),
    env: { PATH: process.env.PATH ?? "", ...env, TEST_EVENT: JSON.stringify(event) },
    encoding: "utf8",
  });
  const line = stdout.split("\n").find((candidate) => candidate.startsWith(MARKER));
  if (line === undefined) throw new Error(`no answer from the bundle:\n${stdout}\n${stderr}`);
  return { result: JSON.parse(line.slice(MARKER.length)), output: `${stdout}\n${stderr}` };
}
