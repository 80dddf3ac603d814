// Typed errors for a user's mistakes. The CLI entry turns them into exit codes and clear messages, in one
// place; anything else is a bug and may show a stack trace.

/** One problem in an input, located as precisely as we can: file, line, field path. */
export interface Problem {
  readonly file: string;
  readonly line?: number | undefined;
  readonly column?: number | undefined;
  /** A field path such as `spec.metrics[2].budget`, or a column name for data files. */
  readonly path?: string | undefined;
  readonly message: string;
}

export function formatProblem(p: Problem): string {
  const where = [p.file, p.line, p.line !== undefined ? p.column : undefined]
    .filter((x) => x !== undefined)
    .join(":");
  return p.path ? `${where}: ${p.path}: ${p.message}` : `${where}: ${p.message}`;
}

/** The command line itself is wrong (exit 64, EX_USAGE). */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** A policy or data file is malformed (exit 65, EX_DATAERR). Carries every problem found, not just the first. */
export class InvalidInputError extends Error {
  override readonly name = "InvalidInputError";
  constructor(readonly problems: readonly Problem[]) {
    super(problems.map(formatProblem).join("\n"));
  }
}

/** A file is missing or unreadable (exit 66, EX_NOINPUT). */
export class FileAccessError extends Error {
  override readonly name = "FileAccessError";
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

/** Translate a Node.js file system error into a message a person understands. */
export function describeFsError(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "is a directory, expected a file";
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

/** The named object does not exist (a rollout, or the VoiceRollout kind itself): exit 67. */
export class NotFoundError extends Error {
  override readonly name = "NotFoundError";
}

/** The object exists, but its state does not accept the action (approve a rollout that is not paused): exit 75. */
export class WrongStateError extends Error {
  override readonly name = "WrongStateError";
}

/** The cluster refused who we are or what we asked (HTTP 401/403, an admission policy's denial): exit 77. */
export class ForbiddenError extends Error {
  override readonly name = "ForbiddenError";
}

/** A service (the Kubernetes API) cannot be reached or is failing: exit 69, EX_UNAVAILABLE. */
export class UnavailableError extends Error {
  override readonly name = "UnavailableError";
}

/**
 * Nothing says where the cluster is or how to reach it (no kubeconfig anywhere and not inside a cluster, or a
 * kubeconfig without a usable current context): exit 78, EX_CONFIG.
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}
