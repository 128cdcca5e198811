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

export interface SdkCallObserver {
  /** A logical call (`send`) starts. */
  call(operation: SdkOperation): void;
  /** A logical call ended in an error, after the SDK's retries (or one it would not retry). */
  callFailed(operation: SdkOperation, error: Error): void;
  /** An HTTP attempt starts: the first, or a retry. */
  attempt(operation: SdkOperation): void;
  /** An HTTP attempt ended in an error (the SDK may retry it). */
  attemptFailed(operation: SdkOperation, error: Error): void;
}

/**
 * Adds the two observing middlewares to an SDK v3 client, named `<name>Calls` and
 * `<name>Attempts`; attaching the same name to the same client again replaces them.
 */
export function observeSdkCalls(
  client: { readonly middlewareStack: unknown },
  observer: SdkCallObserver,
  name: string,
): void {
  const stack = client.middlewareStack as MiddlewareStack;
  stack.add(
    (next, context) => async (args) => {
      const operation = operationOf(context);
      observer.call(operation);
      try {
        return await next(args);
      } catch (error) {
        observer.callFailed(operation, error as Error);
        throw error;
      }
    },
    { step: "initialize", name: `${name}Calls`, priority: "high", override: true },
  );
  stack.add(
    (next, context) => async (args) => {
      const operation = operationOf(context);
      observer.attempt(operation);
      try {
        return await next(args);
      } catch (error) {
        observer.attemptFailed(operation, error as Error);
        throw error;
      }
    },
    { step: "finalizeRequest", name: `${name}Attempts`, priority: "low", override: true },
  );
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
