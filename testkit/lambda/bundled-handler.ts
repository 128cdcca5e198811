/**
 * Runs a bundled Lambda handler as it ships: imports the bundle in a fresh process of the Lambda
 * runtime's Node.js (lambdaNodeBinary: Node 24 for nodejs24.x) with only the given environment (nothing of the test runner's), hands the handler one event and
 * returns what it answered and what the process printed (Powertools logs errors to stderr).
 */
import { execFile } from "node:child_process";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { lambdaNodeBinary } from "./lambda-bundle.ts";

const run = promisify(execFile);
const MARKER = "RESULT ";
const NODE_MARKER = "NODE ";

export async function invokeBundledHandler(
  entryFile: string,
  event: unknown,
  env: Record<string, string>,
  options: {
    cwd?: string;
    /** JavaScript run after the import (Lambda's INIT phase) and before the first invocation. */
    afterImport?: string;
  } = {},
): Promise<{ result: unknown; output: string; nodeVersion: string }> {
  const script = `const { handler } = await import(${JSON.stringify(pathToFileURL(entryFile).href)});
${options.afterImport ?? ""}
const result = await handler(JSON.parse(process.env.TEST_EVENT), { getRemainingTimeInMillis: () => 60000 });
console.log(${JSON.stringify(MARKER)} + JSON.stringify(result));
console.log(${JSON.stringify(NODE_MARKER)} + process.version);`;
  const { stdout, stderr } = await run(lambdaNodeBinary(), ["--input-type=module", "-e", script], {
    ...(options.cwd !== undefined && { cwd: options.cwd }),
    env: { PATH: process.env.PATH ?? "", ...env, TEST_EVENT: JSON.stringify(event) },
    encoding: "utf8",
  });
  const line = stdout.split("\n").find((candidate) => candidate.startsWith(MARKER));
  if (line === undefined) throw new Error(`no answer from the bundle:\n${stdout}\n${stderr}`);
  const nodeVersion =
    stdout
      .split("\n")
      .find((candidate) => candidate.startsWith(NODE_MARKER))
      ?.slice(NODE_MARKER.length) ?? "";
  return {
    result: JSON.parse(line.slice(MARKER.length)),
    output: `${stdout}\n${stderr}`,
    nodeVersion,
  };
}
