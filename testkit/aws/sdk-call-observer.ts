/**
 * The SDK middleware both call counters stand on (`ApiCallCounter` in `api-calls.ts`,
 * `LabelledCallCounter` in `faults/fault-injection.ts`): one middleware around each logical call
 * (`initialize` step, `high`: once per `send` whatever the retries, so each page of a paginator
 * is one call) and one around each HTTP attempt (`finalizeRequest` step, `low`: below the retry
 * middleware, so every retry passes through it, and above the `deserialize` step, so faults
 * injected there pass through it too and errors reach it parsed into the service's exceptions).
 */

/** One operation of one SDK client: `IAMClient` + `CreateRoleCommand` → `IAM`, `CreateRole`. */
export interface SdkOperation {
  readonly client: string;
  readonly operation: string;
}

/** What happens to one kind of request: it starts, and it may end in an error. */
export interface RequestObserver {
  started(operation: SdkOperation): void;
  failed(operation: SdkOperation, error: Error): void;
}

export interface SdkCallObserver {
  /** Logical calls (`send`); one fails when it ends in an error after the SDK's retries. */
  readonly calls: RequestObserver;
  /** HTTP attempts, the first and each retry; one fails when the SDK may still retry it. */
  readonly attempts: RequestObserver;
}

/** Where each observing middleware sits in the client's stack (see the file's comment). */
const PLACES = {
  calls: { step: "initialize", priority: "high" },
  attempts: { step: "finalizeRequest", priority: "low" },
} as const;

/**
 * Adds the two observing middlewares to an SDK v3 client, named `<name>-calls` and
 * `<name>-attempts`; attaching the same name to the same client again replaces them.
 */
export function observeSdkCalls(
  client: { readonly middlewareStack: unknown },
  observer: SdkCallObserver,
  name: string,
): void {
  const stack = client.middlewareStack as MiddlewareStack;
  for (const kind of ["calls", "attempts"] as const) {
    stack.add(observing(observer[kind]), {
      ...PLACES[kind],
      name: `${name}-${kind}`,
      override: true,
    });
  }
}

/** A middleware that reports each request passing through it, and the error it ends in. */
function observing(observer: RequestObserver): Middleware {
  return (next, context) => async (args) => {
    const operation = operationOf(context);
    observer.started(operation);
    try {
      return await next(args);
    } catch (error) {
      observer.failed(operation, error as Error);
      throw error;
    }
  };
}

type Handler = (args: unknown) => Promise<unknown>;
type Middleware = (next: Handler, context: MiddlewareContext) => Handler;
interface MiddlewareContext {
  readonly clientName?: string;
  readonly commandName?: string;
}
interface MiddlewareStack {
  add(
    middleware: Middleware,
    options: { step: string; name: string; priority: string; override: boolean },
  ): void;
}

function operationOf(context: MiddlewareContext): SdkOperation {
  return {
    client: (context.clientName ?? "Unknown").replace(/Client$/, ""),
    operation: (context.commandName ?? "Unknown").replace(/Command$/, ""),
  };
}
