import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { signBody, verifySignature } from "../../../functions/core/signature.ts";

const body = Buffer.from('{"account":"acme"}');
const secret = "a-webhook-secret-of-some-length";

describe("verifySignature", () => {
  it("accepts Spacelift's sha256=<hex HMAC of the raw body>", () => {
    const hex = createHmac("sha256", secret).update(body).digest("hex");
    expect(verifySignature(body, `sha256=${hex}`, [secret])).toBe(true);
    expect(signBody(body, secret)).toBe(`sha256=${hex}`);
  });

  it("accepts upper-case hex and surrounding white space", () => {
    const hex = signBody(body, secret).slice("sha256=".length).toUpperCase();
    expect(verifySignature(body, ` sha256=${hex} `, [secret])).toBe(true);
  });

  it("accepts either secret during a rotation", () => {
    expect(
      verifySignature(body, signBody(body, "old-secret-0123456789"), [
        secret,
        "old-secret-0123456789",
      ]),
    ).toBe(true);
    expect(verifySignature(body, signBody(body, secret), [secret, "old-secret-0123456789"])).toBe(
      true,
    );
  });

  it.each([
    ["missing", undefined],
    ["empty", ""],
    ["wrong secret", signBody(body, "another-secret-entirely")],
    ["sha1 scheme", `sha1=${createHmac("sha1", secret).update(body).digest("hex")}`],
    ["truncated", signBody(body, secret).slice(0, 40)],
    ["not hex", `sha256=${"z".repeat(64)}`],
  ])("refuses a %s signature", (_label, header) => {
    expect(verifySignature(body, header, [secret])).toBe(false);
  });

  it("refuses a body changed after signing", () => {
    const header = signBody(body, secret);
    expect(verifySignature(Buffer.from('{"account":"evil"}'), header, [secret])).toBe(false);
  });
});
