import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findMotoServer, MOTO_INSTALL_HINT, startMotoServer } from "../../../testkit/aws/moto.ts";

describe("startMotoServer", () => {
  it("fails, saying how to install moto, when moto_server is not on PATH", async () => {
    const emptyPath = mkdtempSync(join(tmpdir(), "no-moto-"));
    expect(findMotoServer(emptyPath)).toBeUndefined();
    await expect(startMotoServer({ searchPath: emptyPath })).rejects.toThrow(MOTO_INSTALL_HINT);
    expect(MOTO_INSTALL_HINT).toContain('pip install "moto[server]"');
  });

  it("finds moto_server on this machine's PATH", () => {
    expect(findMotoServer()).toMatch(/moto_server$/);
  });
});
