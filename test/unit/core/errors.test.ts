/**
 * The contract of every error class in functions/core/errors.ts: its `name`, `message`, HTTP
 * status, extra fields, `cause` and which classes it is an instance of, both from the source
 * and from a bundle built with serverless.yml's esbuild options (minified: class names are
 * rewritten there, so a `name` must not come from the class's own name).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import type { CatchUpReport } from "../../../functions/core/catch-up.ts";
import * as sourceErrors from "../../../functions/core/errors.ts";
import { bundleHandler } from "../../../testkit/lambda/lambda-bundle.ts";

type ErrorsModule = typeof sourceErrors;
type ErrorClass = keyof ErrorsModule;

const CAUSE = new Error("the SDK's error");
const REPORT = { since: 1, entriesRead: 2 } as unknown as CatchUpReport;

interface Expected {
  readonly build: (errors: ErrorsModule) => Error;
  readonly message: string;
  readonly statusCode?: number;
  /** Every class of the module the error is an instance of, its own included. */
  readonly instanceOf: readonly ErrorClass[];
  readonly fields?: Record<string, unknown>;
  readonly cause?: unknown;
}

const ERRORS: Record<ErrorClass, Expected> = {
  HttpError: {
    build: (e) => new e.HttpError(404, "not found", { cause: CAUSE }),
    message: "not found",
    statusCode: 404,
    instanceOf: ["HttpError"],
    cause: CAUSE,
  },
  SignatureError: {
    build: (e) => new e.SignatureError(),
    message: "missing or invalid signature",
    statusCode: 401,
    instanceOf: ["HttpError", "SignatureError"],
  },
  InvalidEventError: {
    build: (e) => new e.InvalidEventError("bad stack id", { cause: CAUSE }),
    message: "bad stack id",
    statusCode: 400,
    instanceOf: ["HttpError", "InvalidEventError"],
    cause: CAUSE,
  },
  MissingIdentifierError: {
    build: (e) => new e.MissingIdentifierError("no stack id"),
    message: "no stack id",
    instanceOf: ["MissingIdentifierError"],
  },
  ForeignAccountError: {
    build: (e) => new e.ForeignAccountError("other"),
    message: 'events from Spacelift account "other" are not accepted here',
    statusCode: 403,
    instanceOf: ["HttpError", "ForeignAccountError"],
  },
  EventOutsideWindowError: {
    build: (e) => new e.EventOutsideWindowError("too old"),
    message: "too old",
    statusCode: 422,
    instanceOf: ["HttpError", "EventOutsideWindowError"],
  },
  PayloadTooLargeError: {
    build: (e) => new e.PayloadTooLargeError(1024),
    message: "body exceeds 1024 bytes",
    statusCode: 413,
    instanceOf: ["HttpError", "PayloadTooLargeError"],
  },
  EnqueueError: {
    build: (e) => new e.EnqueueError({ cause: CAUSE }),
    message: "event could not be enqueued",
    statusCode: 503,
    instanceOf: ["HttpError", "EnqueueError"],
    cause: CAUSE,
  },
  PermanentEventError: {
    build: (e) => new e.PermanentEventError("never"),
    message: "never",
    instanceOf: ["PermanentEventError"],
  },
  ForeignResourceError: {
    build: (e) => new e.ForeignResourceError("not ours"),
    message: "not ours",
    instanceOf: ["PermanentEventError", "ForeignResourceError"],
  },
  ConfigurationError: {
    build: (e) => new e.ConfigurationError("SPACELIFT_HOSTNAME is missing"),
    message: "SPACELIFT_HOSTNAME is missing",
    instanceOf: ["ConfigurationError"],
  },
  PolicyRenderError: {
    build: (e) => new e.PolicyRenderError("too big"),
    message: "too big",
    instanceOf: ["PermanentEventError", "PolicyRenderError"],
  },
  TrustPolicyRejectedError: {
    build: (e) => new e.TrustPolicyRejectedError(["bare-star"], "refused"),
    message: "refused",
    instanceOf: ["PermanentEventError", "PolicyRenderError", "TrustPolicyRejectedError"],
    fields: { rules: ["bare-star"] },
  },
  SpaceRoleCapError: {
    build: (e) => new e.SpaceRoleCapError("full"),
    message: "full",
    instanceOf: ["PermanentEventError", "SpaceRoleCapError"],
  },
  AccountRoleQuotaError: {
    build: (e) => new e.AccountRoleQuotaError("quota"),
    message: "quota",
    instanceOf: ["PermanentEventError", "AccountRoleQuotaError"],
  },
  AccountNotRoutedError: {
    build: (e) => new e.AccountNotRoutedError("nowhere"),
    message: "nowhere",
    instanceOf: ["PermanentEventError", "AccountNotRoutedError"],
  },
  AccountUnreachableError: {
    build: (e) => new e.AccountUnreachableError("210987654321", "denied", { cause: CAUSE }),
    message: "denied",
    instanceOf: ["AccountUnreachableError"],
    fields: { accountId: "210987654321" },
    cause: CAUSE,
  },
  StackEnvironmentError: {
    build: (e) => new e.StackEnvironmentError("not set"),
    message: "not set",
    instanceOf: ["StackEnvironmentError"],
  },
  NotYetReadableError: {
    build: (e) => new e.NotYetReadableError("not yet"),
    message: "not yet",
    instanceOf: ["NotYetReadableError"],
  },
  SpacePathUnknownError: {
    build: (e) => new e.SpacePathUnknownError("unknown path"),
    message: "unknown path",
    instanceOf: ["SpacePathUnknownError"],
  },
  AwsCallError: {
    build: (e) => new e.AwsCallError("IAM GetRole failed", { cause: CAUSE }),
    message: "IAM GetRole failed",
    instanceOf: ["AwsCallError"],
    cause: CAUSE,
  },
  SpaceliftApiError: {
    build: (e) =>
      new e.SpaceliftApiError("unauthorized", {
        operation: "SearchStacks",
        status: 401,
        graphqlErrors: ["denied"],
        cause: CAUSE,
      }),
    message: "Spacelift SearchStacks: unauthorized",
    instanceOf: ["SpaceliftApiError"],
    fields: { operation: "SearchStacks", status: 401, graphqlErrors: ["denied"] },
    cause: CAUSE,
  },
  CatchUpIncompleteError: {
    build: (e) => new e.CatchUpIncompleteError("half done", REPORT, { cause: CAUSE }),
    message: "half done",
    instanceOf: ["CatchUpIncompleteError"],
    fields: { report: REPORT },
    cause: CAUSE,
  },
  ReconcileIncompleteError: {
    build: (e) => new e.ReconcileIncompleteError("refused"),
    message: "refused",
    instanceOf: ["ReconcileIncompleteError"],
  },
  SpaceliftUnavailableError: {
    build: (e) => new e.SpaceliftUnavailableError("down"),
    message: "down",
    instanceOf: ["SpaceliftUnavailableError"],
  },
  InvalidReconcileOrderError: {
    build: (e) => new e.InvalidReconcileOrderError("not an order"),
    message: "not an order",
    instanceOf: ["PermanentEventError", "InvalidReconcileOrderError"],
  },
  PlanEnqueueError: {
    build: (e) => new e.PlanEnqueueError("not sent"),
    message: "not sent",
    instanceOf: ["PlanEnqueueError"],
  },
  OrderRefusedError: {
    build: (e) => new e.OrderRefusedError("too early"),
    message: "too early",
    instanceOf: ["PermanentEventError", "OrderRefusedError"],
  },
};

/** What an error shows: its name, message, status, fields, cause and classes. */
function observe(errors: ErrorsModule, error: Error, fields: readonly string[]) {
  const record = error as unknown as Record<string, unknown>;
  return {
    name: error.name,
    message: error.message,
    statusCode: record.statusCode,
    fields: Object.fromEntries(fields.map((field) => [field, record[field]])),
    cause: error.cause,
    instanceOf: (Object.keys(errors) as ErrorClass[]).filter(
      (other) => error instanceof (errors[other] as abstract new (...args: never[]) => unknown),
    ),
    isError: error instanceof Error,
  };
}

function expected(name: ErrorClass) {
  const want = ERRORS[name];
  return {
    name,
    message: want.message,
    statusCode: want.statusCode,
    fields: want.fields ?? {},
    cause: want.cause,
    instanceOf: [...want.instanceOf].sort(),
    isError: true,
  };
}

function checkEvery(errors: ErrorsModule): void {
  for (const name of Object.keys(ERRORS) as ErrorClass[]) {
    const want = ERRORS[name];
    const seen = observe(errors, want.build(errors), Object.keys(want.fields ?? {}));
    expect({ ...seen, instanceOf: [...seen.instanceOf].sort() }).toEqual(expected(name));
  }
}

describe("errors.ts: every class keeps its name, message, status, fields and ancestry", () => {
  it("lists every class the module exports", () => {
    expect(Object.keys(sourceErrors).sort()).toEqual(Object.keys(ERRORS).sort());
  });

  it("builds each error as its contract says, from the source", () => {
    checkEvery(sourceErrors);
  });

  it("builds each error as its contract says, from a bundle minified as serverless.yml ships it", async () => {
    const outdir = mkdtempSync(join(tmpdir(), "bundle-errors-"));
    const bundle = await bundleHandler("functions/core/errors.ts", outdir, { sourcemap: false });
    const bundled = (await import(pathToFileURL(bundle.entryFile).href)) as ErrorsModule;
    expect(Object.keys(bundled).sort()).toEqual(Object.keys(ERRORS).sort());
    checkEvery(bundled);
  });
});
