/**
 * Spacelift signs each delivery with `X-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.
 * Verification runs on the raw bytes and compares in constant time against every secret in
 * force (two during a rotation).
 */
import { createHmac, timingSafeEqual } from "node:crypto";

const HEADER = /^sha256=([0-9a-f]{64})$/i;

export function signBody(body: Uint8Array | string, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

export function verifySignature(
  body: Uint8Array,
  header: string | undefined,
  secrets: readonly string[],
): boolean {
  const match = header === undefined ? null : HEADER.exec(header.trim());
  if (match?.[1] === undefined) return false;
  const received = Buffer.from(match[1], "hex");
  let valid = false;
  // Check every secret (no early exit), so timing does not tell which one matched.
  for (const secret of secrets) {
    const expected = createHmac("sha256", secret).update(body).digest();
    valid = timingSafeEqual(expected, received) || valid;
  }
  return valid;
}
