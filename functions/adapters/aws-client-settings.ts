/** Settings every AWS SDK client of the functions is created with. No SDK import here. */

/**
 * Retries and timeouts shared by every client. The SDK retries throttling, 5xx, timeouts and
 * connection resets itself, up to `maxAttempts` attempts in all; what it gives up on surfaces
 * as an error and the queue redelivers the message.
 *
 * Without a request timeout the SDK's HTTP handler only warns, and waits up to its default
 * socket timeout (5 minutes of inactivity), far past the Lambda's own timeout: a hung call
 * would burn the invocation instead of being retried. With these, a hung IAM or SSM call
 * fails fast as a `TimeoutError`, which the retry strategy treats as transient.
 */
export const AWS_CLIENT_SETTINGS = {
  retryMode: "adaptive",
  maxAttempts: 8,
  requestHandler: { connectionTimeout: 3_000, requestTimeout: 10_000, throwOnRequestTimeout: true },
} as const;
