// Delivers the outbox (outbox.ts) of one rollout: each entry to each sink that has not acknowledged it, in
// sequence order per sink, then records what was acknowledged in status. A sink that fails is retried with
// exponential backoff (nextAttemptAt in the entry, so a restarted operator keeps the schedule) and later
// entries for it wait behind the failed one, so a receiver sees the rollout's story in order.
//
// Exactly once, honestly: to an HTTP sink this is at-least-once delivery with an idempotency key. Every send
// of an entry carries the same id (payload `id`, header Idempotency-Key) and the same bytes; a send repeated
// after a crash between the send and the status write, or by a deposed leader, is recognisable by it. The
// operator's own bookkeeping never holds an entry twice: it is created with the transition in one write,
// and the acknowledgement is applied by id onto the freshest status, retried on resourceVersion conflicts.
import type { VoiceRollout, VoiceRolloutStatus } from "../../core/resource/voicerollout.js";
import { silentLogger, type Logger } from "../log.js";
import { ConflictError, SinkError, type Ports, type RolloutRef } from "../ports.js";
import { fromTime, toTime } from "../status.js";
import type { NotificationsStatus, OutboxEntry } from "./outbox.js";
import { alertmanagerPayload, slackPayload, webhookPayload } from "./payload.js";

export const FIRST_RETRY_MS = 1_000;
export const MAX_RETRY_MS = 5 * 60_000;

/** The wait after the n-th failed attempt (1-based): 1s, 2s, 4s ... capped at 5 minutes. */
export function backoffMs(attempt: number): number {
  return Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, attempt - 1));
}

export interface DeliveryResult {
  /** Entries every sink acknowledged in this call. */
  readonly delivered: number;
  /** Sends that failed. */
  readonly failed: number;
  /** When to try again (ms from now), or null when nothing is left to send. */
  readonly retryAfterMs: number | null;
}

const NOTHING: DeliveryResult = { delivered: 0, failed: 0, retryAfterMs: null };

/** An error as status and logs may show it: never a URL or a response body. */
function describe(err: unknown): string {
  // A SinkError's message is the transport's own words (which Secret, which status), never a URL.
  if (err instanceof SinkError) return err.message;
  return err instanceof Error ? err.name : "error";
}

interface Outcome {
  /** Sinks that acknowledged, by entry id. */
  readonly acked: Map<string, Set<string>>;
  /** Failed entries: their attempt count, next attempt and error. */
  readonly failed: Map<string, { attempts: number; nextAttemptAt: string; lastError: string }>;
}

/** Applies an outcome by id onto a (possibly fresher) status; null when it changes nothing. */
export function applyOutcome(status: VoiceRolloutStatus, o: Outcome): VoiceRolloutStatus | null {
  const n = status.notifications;
  if (!n) return null;
  let delivered = n.delivered;
  let changed = false;
  const outbox: OutboxEntry[] = [];
  for (const e of n.outbox) {
    const acked = o.acked.get(e.id);
    const failed = o.failed.get(e.id);
    if (!acked && !failed) {
      outbox.push(e);
      continue;
    }
    const sinks = acked ? e.sinks.filter((s) => !acked.has(s)) : e.sinks;
    changed = true;
    if (sinks.length === 0) {
      // Counted once: an entry already gone from a fresher status was counted by whoever removed it.
      delivered++;
      continue;
    }
    outbox.push(failed ? { ...e, sinks, ...failed } : { ...e, sinks });
  }
  if (!changed) return null;
  const notifications: NotificationsStatus = { ...n, outbox, delivered };
  return { ...status, notifications };
}

/** Sends what is due in one rollout's outbox and records the acknowledgements. */
export async function deliverOutbox(
  ref: RolloutRef,
  ports: Ports,
  log: Logger = silentLogger,
): Promise<DeliveryResult> {
  const transport = ports.notifications;
  if (!transport) return NOTHING;
  let rollout = await ports.rollouts.get(ref);
  const outbox = rollout?.status?.notifications?.outbox ?? [];
  const spec = rollout?.spec.notifications;
  if (!rollout || outbox.length === 0 || !spec) return NOTHING;
  const now = ports.clock.now();
  const rlog = log.child({ rollout: ref });

  const o: Outcome = { acked: new Map(), failed: new Map() };
  const urls = new Map<string, string | null>();
  let failures = 0;
  for (const sink of spec.sinks) {
    for (const e of outbox) {
      if (!e.sinks.includes(sink.name)) continue;
      const due = fromTime(e.nextAttemptAt) ?? 0;
      if (due > now) break; // Waits behind its own backoff; later entries wait behind it.
      try {
        if (!urls.has(sink.name)) {
          const { name, key } = sink.urlFrom.secretKeyRef;
          urls.set(sink.name, await transport.secret(ref.namespace, name, key));
        }
        const url = urls.get(sink.name);
        if (!url)
          throw new SinkError(
            `Secret ${sink.urlFrom.secretKeyRef.name} has no key ${sink.urlFrom.secretKeyRef.key}`,
          );
        await send(transport, sink.type, url, rollout, e);
        const acked = o.acked.get(e.id) ?? new Set<string>();
        acked.add(sink.name);
        o.acked.set(e.id, acked);
      } catch (err) {
        failures++;
        const attempts = e.attempts + 1;
        const wait = backoffMs(attempts);
        o.failed.set(e.id, { attempts, nextAttemptAt: toTime(now + wait), lastError: describe(err) });
        rlog.warn("notification not delivered; retrying with backoff", {
          sink: sink.name,
          type: sink.type,
          notification: e.id,
          attempt: attempts,
          error: describe(err),
          retryInMs: wait,
        });
        break; // Keep this sink's order: its later entries wait for this one.
      }
    }
  }

  // Record the acknowledgements by id on the freshest status: a reconcile that wrote in between keeps its
  // transition (and any new entries), and an entry is removed and counted once.
  let written: VoiceRolloutStatus | null = null;
  for (let attempt = 1; rollout !== null && attempt <= 10; attempt++) {
    const next = applyOutcome(rollout.status ?? {}, o);
    if (next === null) break;
    try {
      const stored = await ports.rollouts.updateStatus(rollout, next);
      written = stored.status ?? null;
      break;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      rollout = await ports.rollouts.get(ref);
    }
  }
  const left = written?.notifications?.outbox ?? rollout?.status?.notifications?.outbox ?? [];
  const delivered = [...o.acked.entries()].filter(([id]) => !left.some((e) => e.id === id)).length;
  if (delivered > 0) rlog.info("notifications delivered", { delivered, pending: left.length });
  const nextAt = left.map((e) => fromTime(e.nextAttemptAt) ?? now);
  return {
    delivered,
    failed: failures,
    retryAfterMs: nextAt.length > 0 ? Math.max(0, Math.min(...nextAt) - now) : null,
  };
}

async function send(
  transport: NonNullable<Ports["notifications"]>,
  type: "webhook" | "slack" | "alertmanager",
  url: string,
  rollout: VoiceRollout,
  e: OutboxEntry,
): Promise<void> {
  const headers = { "Idempotency-Key": e.id };
  if (type === "webhook") return transport.post(url, webhookPayload(rollout, e), headers);
  if (type === "slack") return transport.post(url, slackPayload(rollout, e), headers);
  return transport.post(`${url.replace(/\/+$/, "")}/api/v2/alerts`, alertmanagerPayload(rollout, e), headers);
}
