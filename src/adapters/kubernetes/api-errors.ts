// HTTP errors from client-node, reduced to what the adapters act on: the status code, and a one-line message.
// client-node's ApiException message carries the whole response (headers included), which is noise in logs
// and Events; the API server's Status `message` says what happened in words.
import { ApiException } from "@kubernetes/client-node";

/** The HTTP status of a failed API call (ApiException, or a watch error's statusCode), if it had one. */
export function httpStatus(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  if (typeof err === "object" && err !== null) {
    const e = err as { statusCode?: unknown; code?: unknown };
    if (typeof e.statusCode === "number") return e.statusCode;
    if (typeof e.code === "number") return e.code;
  }
  return undefined;
}

export const isNotFound = (err: unknown) => httpStatus(err) === 404;
export const isConflict = (err: unknown) => httpStatus(err) === 409;

/** The API server's own explanation (Status.message), else the error's first line. */
export function describeApiError(err: unknown): string {
  if (err instanceof ApiException) {
    const body: unknown = (err as ApiException<unknown>).body;
    let parsed: unknown = body;
    if (typeof body === "string") {
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = undefined;
      }
    }
    const message = (parsed as { message?: unknown } | undefined)?.message;
    return typeof message === "string" ? `HTTP ${err.code}: ${message}` : `HTTP ${err.code}`;
  }
  if (err instanceof Error) return err.message.split("\n")[0] ?? err.name;
  return String(err);
}

/** Wraps an unexpected API failure with what was being done, keeping the status code readable. */
export class KubernetesApiError extends Error {
  override readonly name = "KubernetesApiError";
  readonly status: number | undefined;
  constructor(action: string, cause: unknown) {
    super(`${action}: ${describeApiError(cause)}`, { cause });
    this.status = httpStatus(cause);
  }
}
