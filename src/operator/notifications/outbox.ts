// The notification outbox, kept in the rollout's status. A notification is written into status.notifications
// in the same status write as the transition it tells of (a pause, a rollback, a promotion, a stuck rollout),
// with a delivery key that is never reused: <rollout uid>/<seq>. Whoever writes that status owns the
// notification; a pass that loses the write race writes neither the transition nor the notification, and the
// pass that wins writes both. So the operator's own bookkeeping cannot hold a notification twice or lose one:
// deliver.ts sends what the outbox holds and removes it once every sink has acknowledged it.
//
// Notifications are derived from the Events a pass emits (the same decisions, not a second copy of them)
// and from two conditions no Event announces: a canary that stays unready and a metric source that stays
// down, each for longer than spec.notifications.stuckAfter.
import type { z } from "zod";
import type {
  outboxEntrySchema,
  VoiceRollout,
  VoiceRolloutStatus,
} from "../../core/resource/voicerollout.js";
import { parseDuration } from "../../core/rollout/plan.js";
import {
  INSUFFICIENT_GPUS,
  POLICY_UNAVAILABLE,
  ROUTE_CHANGED_BY_HAND,
  SURGE_BUDGET_EXCEEDED,
  fromTime,
  toTime,
} from "../status.js";

export type OutboxEntry = z.infer<typeof outboxEntrySchema>;
export type NotificationsStatus = NonNullable<VoiceRolloutStatus["notifications"]>;

/**
 * The outbox holds at most this many undelivered notifications; past it the oldest is dropped and counted in
 * status.notifications.dropped. A rollout makes a handful of notifications, so only a sink down for a whole
 * rollout's worth of transitions reaches it; the bound keeps the status (etcd's 1.5 MiB object) safe.
 */
export const MAX_OUTBOX = 20;
/** Evidence carried per notification: the most severe findings, enough to act on. */
export const MAX_FINDINGS = 5;
/** A message longer than this is cut (the full story stays in the rollout's status and Events). */
export const MAX_MESSAGE_CHARS = 1024;
const DEFAULT_STUCK_AFTER_MS = 5 * 60_000;

/** What a notification is about; the webhook payload's `event`. */
export type NotificationEvent =
  "paused" | "awaiting-approval" | "stuck" | "rolled-back" | "aborted" | "failed" | "promoted" | "resolved";

/** Conditions a notification can open (an alert that stays until the condition ends). */
const OPEN_EVENTS: ReadonlySet<string> = new Set(["paused", "awaiting-approval", "stuck"]);

export const CANARY_NOT_READY = "CanaryNotReady";
export const METRICS_SOURCE_DOWN = "MetricsSourceDown";

/** The Events that mean a rollout waits on something outside analysis, not on a person's judgement. */
const STUCK_REASONS: ReadonlySet<string> = new Set([
  POLICY_UNAVAILABLE,
  INSUFFICIENT_GPUS,
  SURGE_BUDGET_EXCEEDED,
]);
const PAUSE_EVENTS: ReadonlySet<string> = new Set(["Paused", ROUTE_CHANGED_BY_HAND, ...STUCK_REASONS]);
const TERMINAL: Readonly<Record<string, NotificationEvent>> = {
  RolledBack: "rolled-back",
  Aborted: "aborted",
  Failed: "failed",
  Promoted: "promoted",
};

export interface EmittedEvent {
  readonly type: "Normal" | "Warning";
  readonly reason: string;
  readonly message: string;
}

export interface TransitionFacts {
  readonly rollout: VoiceRollout;
  /** The status as read at the start of the pass. */
  readonly previous: VoiceRolloutStatus | undefined;
  /** The status this pass is about to write (without notifications). */
  readonly next: VoiceRolloutStatus;
  /** The Events this pass emits, in order. */
  readonly events: readonly EmittedEvent[];
  readonly now: number;
  /** The rollout waits for the canary's replicas to be ready before it can go on. */
  readonly canaryWaiting: boolean;
  /** The latest look could not read some metric (the source is down or the series are gone). */
  readonly metricsDown: boolean;
}

/** An open condition's key: the event and its reason, e.g. `paused:AnalysisHeld` or `stuck:CanaryNotReady`. */
export function keyOf(event: string, reason: string): string {
  return `${event}:${reason}`;
}

function pausedReason(status: VoiceRolloutStatus): string | undefined {
  const c = status.conditions?.find((x) => x.type === "Paused");
  return c?.status === "True" ? c.reason : undefined;
}

function pauseEventOf(conditionReason: string): NotificationEvent {
  if (conditionReason === "AwaitingApproval") return "awaiting-approval";
  return STUCK_REASONS.has(conditionReason) ? "stuck" : "paused";
}

function isTerminalPhase(phase: string | undefined): boolean {
  return phase === "Promoted" || phase === "RolledBack" || phase === "Failed";
}

/** Whether the condition a key names still holds after this pass. */
function holds(key: string, f: TransitionFacts): boolean {
  const [event, reason] = [key.slice(0, key.indexOf(":")), key.slice(key.indexOf(":") + 1)];
  if (isTerminalPhase(f.next.phase)) return false;
  if (reason === CANARY_NOT_READY) return f.canaryWaiting;
  if (reason === METRICS_SOURCE_DOWN) return f.metricsDown;
  return OPEN_EVENTS.has(event) && pausedReason(f.next) === reason;
}

function cut(text: string): string {
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS - 1)}…` : text;
}

interface Draft {
  readonly event: NotificationEvent;
  readonly reason: string;
  readonly message: string;
}

/** What this pass has to tell: one draft per notifiable Event, in order. */
function draftsOf(f: TransitionFacts): Draft[] {
  const out: Draft[] = [];
  for (const e of f.events) {
    const terminal = TERMINAL[e.reason];
    if (terminal) out.push({ event: terminal, reason: e.reason, message: e.message });
    else if (PAUSE_EVENTS.has(e.reason)) {
      // Named after the pause the rollout ends the pass in, so the key matches its Paused condition.
      const reason = pausedReason(f.next);
      if (reason !== undefined) out.push({ event: pauseEventOf(reason), reason, message: e.message });
    }
  }
  return out;
}

function sinceField(
  active: boolean,
  terminal: boolean,
  previous: string | undefined,
  now: number,
): string | undefined {
  return active && !terminal ? (previous ?? toTime(now)) : undefined;
}

/**
 * The status to write, with this pass's notifications added to the outbox. Pure: called again with the same
 * inputs it gives the same status, and a pass that tells nothing new leaves status.notifications as it was.
 */
export function withOutbox(f: TransitionFacts): VoiceRolloutStatus {
  const spec = f.rollout.spec.notifications;
  const prev = f.previous?.notifications;
  if (!spec) {
    // Without sinks nothing is kept, but the sequence is: a key is never used twice, even after re-enabling.
    if (!prev) return f.next;
    const dropped = (prev.dropped ?? 0) + prev.outbox.length;
    const notifications: NotificationsStatus = { seq: prev.seq, outbox: [], delivered: prev.delivered };
    if (dropped > 0) notifications.dropped = dropped;
    return { ...f.next, notifications };
  }
  // A sink taken out of the spec is no longer waited for; an entry no sink waits for any more is dropped.
  const names = new Set(spec.sinks.map((s) => s.name));
  const kept = (prev?.outbox ?? [])
    .map((e) =>
      e.sinks.every((s) => names.has(s)) ? e : { ...e, sinks: e.sinks.filter((s) => names.has(s)) },
    )
    .filter((e) => e.sinks.length > 0);
  const state: NotificationsStatus = prev
    ? {
        ...prev,
        outbox: kept,
        open: [...(prev.open ?? [])],
        dropped: (prev.dropped ?? 0) + prev.outbox.length - kept.length,
      }
    : { seq: 0, outbox: [], delivered: 0, open: [] };
  const terminal = isTerminalPhase(f.next.phase);
  const stuckAfterMs = parseDuration(spec.stuckAfter) ?? DEFAULT_STUCK_AFTER_MS;
  const drafts = draftsOf(f);

  // Conditions no Event announces: notified once they have lasted stuckAfter.
  const canarySince = sinceField(f.canaryWaiting, terminal, prev?.canaryNotReadySince, f.now);
  const metricsSince = sinceField(f.metricsDown, terminal, prev?.metricsDownSince, f.now);
  const open = new Set(state.open);
  const stuck: [string | undefined, string, string][] = [
    [
      canarySince,
      CANARY_NOT_READY,
      `the canary Deployment ${f.rollout.spec.canary.deployment} has not been ready for ${spec.stuckAfter}; the rollout cannot shift traffic`,
    ],
    [
      metricsSince,
      METRICS_SOURCE_DOWN,
      `the metric source has not answered for ${spec.stuckAfter}; nothing can be judged (missing data never promotes)`,
    ],
  ];
  for (const [since, reason, message] of stuck) {
    const at = fromTime(since);
    if (at !== null && f.now - at >= stuckAfterMs && !open.has(keyOf("stuck", reason)))
      drafts.push({ event: "stuck", reason, message });
  }

  const sinks = spec.sinks.map((s) => s.name);
  const alertSinks = spec.sinks.filter((s) => s.type === "alertmanager").map((s) => s.name);
  const step = Math.min((f.next.currentStepIndex ?? 0) + 1, f.rollout.spec.steps.length);
  const findings = (f.next.lastDecision?.findings ?? []).slice(0, MAX_FINDINGS);
  const make = (d: Draft, to: string[], resolves: string[]): OutboxEntry => {
    const seq = ++state.seq;
    const entry: OutboxEntry = {
      id: `${f.rollout.metadata.uid ?? `${f.rollout.metadata.namespace}/${f.rollout.metadata.name}`}/${seq}`,
      seq,
      event: d.event,
      reason: d.reason,
      at: toTime(f.now),
      phase: f.next.phase ?? "Progressing",
      step,
      steps: f.rollout.spec.steps.length,
      canaryWeight: f.next.canaryWeight ?? 0,
      message: cut(d.message),
      sinks: to,
      attempts: 0,
    };
    if (findings.length > 0) entry.findings = findings;
    if (resolves.length > 0) entry.resolves = resolves;
    return entry;
  };

  const added: OutboxEntry[] = [];
  for (const d of drafts) {
    const key = keyOf(d.event, d.reason);
    // Every Event-derived draft is told: the reconciler emits such an Event once per transition (a pause
    // whose reason is unchanged emits none). A condition that still holds stays open for alert sinks.
    if (OPEN_EVENTS.has(d.event) && holds(key, f)) open.add(key);
    added.push(make(d, sinks, []));
  }
  // Conditions that ended: an alert sink is told so it can resolve them (endsAt). A notification of this
  // pass carries them; otherwise a `resolved` notification goes to the alert sinks only (a webhook or a
  // Slack channel is not paged for a pause that ended because someone answered it).
  const closed = [...open].filter((k) => !holds(k, f));
  for (const k of closed) open.delete(k);
  if (closed.length > 0) {
    const last = added.at(-1);
    if (last) last.resolves = [...(last.resolves ?? []), ...closed];
    else if (alertSinks.length > 0)
      added.push(
        make(
          { event: "resolved", reason: "Resolved", message: `resolved: ${closed.join(", ")}` },
          alertSinks,
          closed,
        ),
      );
  }

  let outbox = [...state.outbox, ...added];
  let dropped = state.dropped ?? 0;
  if (outbox.length > MAX_OUTBOX) {
    dropped += outbox.length - MAX_OUTBOX;
    outbox = outbox.slice(outbox.length - MAX_OUTBOX);
  }
  const notifications: NotificationsStatus = { seq: state.seq, outbox, delivered: state.delivered };
  if (dropped > 0) notifications.dropped = dropped;
  if (open.size > 0) notifications.open = [...open].sort();
  if (canarySince) notifications.canaryNotReadySince = canarySince;
  if (metricsSince) notifications.metricsDownSince = metricsSince;
  return { ...f.next, notifications };
}
