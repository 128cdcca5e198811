/**
 * The reconciler sends its Spacelift API key (and the JWT it buys) to SPACELIFT_API_ENDPOINT,
 * so a plain-HTTP endpoint would put the key on the wire in clear. Only loopback hosts, where
 * the local fake Spacelift listens, may be reached over http://.
 */
import { describe, expect, it } from "vitest";
import { ConfigurationError } from "../../../../functions/core/errors.ts";
import { loadReconcilerConfig } from "../../../../functions/core/reconcile/settings.ts";

describe("SPACELIFT_API_ENDPOINT", () => {
  it.each([
    "http://acme.app.spacelift.io/graphql",
    "http://10.0.0.5:8080/graphql",
    "http://localhost.attacker.example/graphql",
    "http://127.0.0.1.attacker.example/graphql",
    "http://127.0.0.1@attacker.example/graphql",
    "http://[::2]/graphql",
    "ftp://acme.app.spacelift.io/graphql",
  ])("refuses %s at config load", (endpoint) => {
    expect(() => loadReconcilerConfig({ SPACELIFT_API_ENDPOINT: endpoint })).toThrow(
      new ConfigurationError(
        "invalid configuration: SPACELIFT_API_ENDPOINT: must be an https:// URL (the API key travels to it); http:// only to 127.0.0.1, [::1] or localhost",
      ),
    );
  });

  it.each([
    "https://acme.app.spacelift.io/graphql",
    "http://127.0.0.1:4000/graphql",
    "http://[::1]:4000/graphql",
    "http://localhost:4000/graphql",
  ])("accepts %s", (endpoint) => {
    expect(loadReconcilerConfig({ SPACELIFT_API_ENDPOINT: endpoint }).spaceliftEndpoint).toBe(
      endpoint,
    );
  });
});
