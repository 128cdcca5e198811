/**
 * The receiver's Parameters and Secrets extension layer, by region. AWS publishes the layer from
 * a different account, with its own version, in each region, and an ARN from another region
 * cannot be attached (Lambda refuses a layer outside the function's region at deploy; osls and
 * moto never check). serverless.yml keeps the ARNs it knows in custom.extensionLayers; in a
 * region without one, `osls package` must stop and say which parameter to set.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PACKAGED_PARAMS, SERVICE_DIR } from "../../testkit/policy/serverless-template.ts";

const run = promisify(execFile);
const OSLS_BIN = join(SERVICE_DIR, "node_modules", "osls", "bin", "serverless.js");
const US_EAST_1 =
  "arn:aws:lambda:us-east-1:177933569100:layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:24";
/** A region custom.extensionLayers does not list. */
const UNMAPPED = "eu-west-1";

let service: string;

/** Runs osls in a copy of the service; resolves to its exit code and output. */
async function osls(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      [
        OSLS_BIN,
        ...args,
        "--param=spaceliftHostname=acme.app.spacelift.io",
        `--param=permissionsBoundaryArn=${PACKAGED_PARAMS.permissionsBoundaryArn}`,
      ],
      {
        cwd: service,
        env: { ...process.env, SLS_TELEMETRY_DISABLED: "1", SLS_NOTIFICATIONS_MODE: "off" },
        timeout: 120_000,
      },
    );
    return { code: 0, output: `${stdout}\n${stderr}` };
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failure.code ?? 1, output: `${failure.stdout ?? ""}\n${failure.stderr ?? ""}` };
  }
}

beforeAll(() => {
  service = mkdtempSync(join(tmpdir(), "srv-layers-"));
  for (const entry of ["serverless.yml", "package.json", "tsconfig.json", "functions"]) {
    cpSync(join(SERVICE_DIR, entry), join(service, entry), { recursive: true });
  }
  symlinkSync(join(SERVICE_DIR, "node_modules"), join(service, "node_modules"), "dir");
});
afterAll(() => rmSync(service, { recursive: true, force: true }));

describe("the receiver's extension layer by region", () => {
  it("is arm64 version 24 from AWS's us-east-1 account in us-east-1", async () => {
    const { code, output } = await osls([
      "print",
      "--region",
      "us-east-1",
      "--path",
      "functions.receiver.layers",
      "--format",
      "json",
    ]);

    expect(code).toBe(0);
    expect(JSON.parse(output.slice(output.indexOf("["), output.lastIndexOf("]") + 1))).toEqual([
      US_EAST_1,
    ]);
  });

  it("stops `osls package` in a region without a known layer, naming the parameter to set", async () => {
    const { code, output } = await osls([
      "package",
      "--region",
      UNMAPPED,
      "--package",
      join(service, "out"),
    ]);

    expect(code).not.toBe(0);
    expect(output).toContain(
      `set parametersSecretsExtensionLayerArn - no extension layer known for ${UNMAPPED}`,
    );
  });

  it("takes the layer given with --param in such a region", async () => {
    const arn = `arn:aws:lambda:${UNMAPPED}:015030872274:layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:1`;

    const { code, output } = await osls([
      "print",
      "--region",
      UNMAPPED,
      `--param=parametersSecretsExtensionLayerArn=${arn}`,
      "--path",
      "functions.receiver.layers",
      "--format",
      "json",
    ]);

    expect(code).toBe(0);
    expect(output).toContain(arn);
  });
});
