/**
 * `yaml` is loaded only for a permissions configuration that is not a JSON object: evaluating it
 * costs the provisioner's and reconciler's cold start several milliseconds, and JSON (or no
 * file at all) does not need it. Its loads are counted here through the module mock's factory.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { loadVendingConfig } from "../../../functions/core/config.ts";
import { SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const yaml = vi.hoisted(() => ({ loads: 0 }));
vi.mock("yaml", async (importOriginal) => {
  yaml.loads++;
  return importOriginal();
});

const env = {
  SPACELIFT_HOSTNAME: SPACELIFT_HOST,
  AWS_ACCOUNT_ID: "123456789012",
  UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY: "true",
};
const READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const dir = mkdtempSync(join(tmpdir(), "permissions-"));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

// Runs in order: the YAML case last, since a module is loaded once.
describe("loading the permissions configuration", () => {
  it("reads the default configuration, a JSON file and inline JSON without loading yaml", async () => {
    const json = JSON.stringify({
      readWriteSplit: true,
      default: { managedPolicyArns: [READ_ONLY] },
    });

    await loadVendingConfig({ ...env, DEFAULT_POLICY_ARNS: READ_ONLY });
    const fromFile = await loadVendingConfig({
      ...env,
      PERMISSIONS_CONFIG_FILE: file("permissions.json", JSON.stringify(JSON.parse(json), null, 2)),
    });
    const inline = await loadVendingConfig({ ...env, PERMISSIONS_CONFIG: json });

    expect(fromFile.permissions).toMatchObject({
      readWriteSplit: true,
      default: { managedPolicyArns: [READ_ONLY] },
    });
    expect(inline.permissions).toEqual({ ...fromFile.permissions, source: "PERMISSIONS_CONFIG" });
    expect(yaml.loads).toBe(0);
  });

  it("loads yaml for a YAML file, which reads as the same JSON does", async () => {
    const json = file(
      "same.json",
      '{"readWriteSplit": true, "labels": {"aws:admin": {"spaces": ["platform-*"]}}}',
    );
    const text = "readWriteSplit: true\nlabels:\n  aws:admin:\n    spaces: [platform-*]\n";

    const fromJson = await loadVendingConfig({ ...env, PERMISSIONS_CONFIG_FILE: json });
    expect(yaml.loads).toBe(0);
    const fromYaml = await loadVendingConfig({
      ...env,
      PERMISSIONS_CONFIG_FILE: file("same.yaml", text),
    });

    expect(yaml.loads).toBe(1);
    expect(fromYaml.permissions).toEqual({
      ...fromJson.permissions,
      source: join(dir, "same.yaml"),
    });
  });
});
