// The operator's log: one JSON object per line (time, level, msg, rollout, fields), for log pipelines that
// parse JSON. Logs carry names, numbers and short reasons only: a long string is replaced by its length, so a
// payload or a response body that slipped into a field never reaches the log.
import type { RolloutRef } from "./ports.js";

export type Level = "debug" | "info" | "warn" | "error";

const LEVELS: Readonly<Record<Level, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Longer strings are shown by length only (status reasons are short; payloads are not). */
export const MAX_FIELD_CHARS = 300;

export type Fields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** A logger that adds these fields (a rollout, say) to every line. */
  child(fields: Fields & { rollout?: RolloutRef | string }): Logger;
}

export interface LoggerOptions {
  readonly level?: Level | undefined;
  /** Where lines go; stderr by default, so stdout stays free for anything a tool pipes. */
  readonly write?: ((line: string) => void) | undefined;
  readonly now?: (() => number) | undefined;
}

function safe(value: unknown, depth = 0): unknown {
  if (value === null || value === undefined) return value ?? null;
  if (typeof value === "string") return value.length > MAX_FIELD_CHARS ? `<${value.length} chars>` : value;
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value);
  if (typeof value === "boolean") return value;
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) return { name: value.name, message: safe(value.message) };
  if (depth >= 3) return "<nested>";
  if (Array.isArray(value)) return value.slice(0, 20).map((v) => safe(v, depth + 1));
  if (typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = safe(v, depth + 1);
    return out;
  }
  return `<${typeof value}>`;
}

export function refKey(ref: RolloutRef): string {
  return `${ref.namespace}/${ref.name}`;
}

export function createLogger(options: LoggerOptions = {}, base: Fields = {}): Logger {
  const min = LEVELS[options.level ?? "info"];
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const now = options.now ?? Date.now;
  const emit = (level: Level, msg: string, fields: Fields = {}) => {
    if (LEVELS[level] < min) return;
    const { rollout, ...rest } = { ...base, ...fields };
    const line: Record<string, unknown> = { time: new Date(now()).toISOString(), level, msg: safe(msg) };
    if (rollout !== undefined)
      line.rollout = typeof rollout === "string" ? rollout : refKey(rollout as RolloutRef);
    const cleaned = safe(rest) as Record<string, unknown>;
    if (Object.keys(cleaned).length > 0) line.fields = cleaned;
    write(JSON.stringify(line));
  };
  return {
    debug: (msg, fields) => emit("debug", msg, fields),
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
    child: (fields) => createLogger(options, { ...base, ...fields }),
  };
}

/** A logger that drops everything: the default where a caller passes none. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};
