// What each kind of sink receives for one outbox entry. The payloads are built at delivery from the entry
// alone (no fresh reads), so a notification sent again after a crash is the same bytes with the same id.
import type { VoiceRollout } from "../../core/resource/voicerollout.js";
import type { OutboxEntry } from "./outbox.js";

/** The generic webhook payload's version: bumped on any incompatible change (docs/notifications.md). */
export const WEBHOOK_API_VERSION = "notifications.voicectl.dev/v1";
export const WEBHOOK_KIND = "RolloutNotification";

export type Severity = "critical" | "warning" | "info";

export function severityOf(event: string): Severity {
  if (event === "rolled-back" || event === "failed") return "critical";
  if (event === "promoted" || event === "resolved") return "info";
  return "warning";
}

/** Shell-quotes a value for a command line someone will paste. */
function quote(value: string): string {
  return /^[A-Za-z0-9._/:=@-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

/** The exact commands that answer this notification, when the rollout can still be answered. */
export function commandsOf(rollout: VoiceRollout, entry: OutboxEntry): { approve?: string; abort?: string } {
  const { name, namespace } = rollout.metadata;
  const target = `${quote(name)} -n ${quote(namespace)}`;
  const out: { approve?: string; abort?: string } = {};
  const live = entry.phase === "Paused" || entry.phase === "Progressing";
  if (entry.phase === "Paused") out.approve = `voicectl rollout approve ${target} --reason '...'`;
  if (live) out.abort = `voicectl rollout abort ${target} --reason '...'`;
  return out;
}

type Finding = NonNullable<OutboxEntry["findings"]>[number];

function fmt(n: number | null | undefined): string {
  if (n === null || n === undefined) return "n/a";
  return Math.abs(n) >= 100 ? n.toFixed(1) : Number(n.toPrecision(4)).toString();
}

function sliceText(slice: Readonly<Record<string, string>>): string {
  const parts = Object.entries(slice).map(([k, v]) => `${k}=${v}`);
  return parts.length > 0 ? parts.join(",") : "all traffic";
}

/** One line of evidence: metric, slice, values, interval, budget, samples. */
export function evidenceLine(f: Finding): string {
  const interval = f.interval ? ` [${fmt(f.interval.lower)}, ${fmt(f.interval.upper)}]` : "";
  const samples = f.samples ? `; n=${f.samples.baseline}/${f.samples.canary}` : "";
  return `${f.metric} in ${sliceText(f.slice)}: ${fmt(f.baseline)} -> ${fmt(f.canary)}; worsening ${fmt(f.worsening)}${interval}, budget ${fmt(f.allowed)}${samples} (${f.verdict}${f.critical ? ", critical" : ""})`;
}

export interface WebhookPayload {
  readonly apiVersion: typeof WEBHOOK_API_VERSION;
  readonly kind: typeof WEBHOOK_KIND;
  readonly id: string;
  readonly event: string;
  readonly reason: string;
  readonly severity: Severity;
  readonly at: string;
  readonly rollout: { readonly namespace: string; readonly name: string; readonly uid?: string | undefined };
  readonly phase: string;
  readonly step: number;
  readonly steps: number;
  readonly canaryWeight: number;
  readonly message: string;
  readonly findings: readonly {
    readonly metric: string;
    readonly slice: Readonly<Record<string, string>>;
    readonly verdict: string;
    readonly critical: boolean;
    readonly baseline: number | null;
    readonly canary: number | null;
    readonly interval: { readonly lower: number; readonly upper: number } | null;
    readonly worsening: number | null;
    readonly budget: number | null;
    readonly samples: { readonly baseline: number; readonly canary: number } | null;
    readonly reason: string;
  }[];
  readonly resolves: readonly string[];
  readonly commands: { readonly approve?: string; readonly abort?: string };
}

export function webhookPayload(rollout: VoiceRollout, entry: OutboxEntry): WebhookPayload {
  const { name, namespace, uid } = rollout.metadata;
  return {
    apiVersion: WEBHOOK_API_VERSION,
    kind: WEBHOOK_KIND,
    id: entry.id,
    event: entry.event,
    reason: entry.reason,
    severity: severityOf(entry.event),
    at: entry.at,
    rollout: { namespace, name, ...(uid !== undefined ? { uid } : {}) },
    phase: entry.phase,
    step: entry.step,
    steps: entry.steps,
    canaryWeight: entry.canaryWeight,
    message: entry.message,
    findings: (entry.findings ?? []).map((f) => ({
      metric: f.metric,
      slice: f.slice,
      verdict: f.verdict,
      critical: f.critical,
      baseline: f.baseline ?? null,
      canary: f.canary ?? null,
      interval: f.interval ?? null,
      worsening: f.worsening ?? null,
      budget: f.allowed ?? null,
      samples: f.samples ?? null,
      reason: f.reason,
    })),
    resolves: entry.resolves ?? [],
    commands: commandsOf(rollout, entry),
  };
}

const TITLES: Readonly<Record<string, string>> = {
  paused: "paused",
  "awaiting-approval": "waiting for approval",
  stuck: "stuck",
  "rolled-back": "rolled back",
  aborted: "aborted",
  failed: "failed",
  promoted: "promoted",
  resolved: "resolved",
};

/** Slack's incoming-webhook body: plain `text` (the notification fallback) plus Block Kit sections. */
export function slackPayload(rollout: VoiceRollout, entry: OutboxEntry): unknown {
  const { name, namespace } = rollout.metadata;
  const title = `VoiceRollout ${namespace}/${name} ${TITLES[entry.event] ?? entry.event} (${entry.reason}) at step ${entry.step}/${entry.steps}, canary ${entry.canaryWeight}%`;
  const evidence = (entry.findings ?? []).map((f) => `• ${evidenceLine(f)}`);
  const commands = Object.values(commandsOf(rollout, entry)).map((c) => `\`${c}\``);
  const text = [title, entry.message, ...evidence, ...commands].join("\n");
  const blocks: unknown[] = [
    { type: "section", text: { type: "mrkdwn", text: `*${title}*\n${entry.message}` } },
  ];
  if (evidence.length > 0)
    blocks.push({ type: "section", text: { type: "mrkdwn", text: evidence.join("\n").slice(0, 2900) } });
  if (commands.length > 0)
    blocks.push({ type: "section", text: { type: "mrkdwn", text: commands.join("\n") } });
  blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: `notification ${entry.id}` }] });
  return { text, blocks };
}

const ALERT_NAMES: Readonly<Record<string, string>> = {
  paused: "VoiceRolloutPaused",
  "awaiting-approval": "VoiceRolloutAwaitingApproval",
  stuck: "VoiceRolloutStuck",
  "rolled-back": "VoiceRolloutRolledBack",
  aborted: "VoiceRolloutAborted",
  failed: "VoiceRolloutFailed",
  promoted: "VoiceRolloutPromoted",
};

/** How long a finished rollout's alert stays firing: long enough to be seen, then it resolves by itself. */
export const FINISHED_ALERT_MS = 60 * 60_000;
/**
 * An open condition's alert carries an endsAt this far ahead, so Alertmanager does not resolve it after its
 * resolve_timeout while the rollout still waits; the operator resolves it (endsAt now) when it ends.
 */
export const OPEN_ALERT_MS = 7 * 24 * 60 * 60_000;

function alertLabels(rollout: VoiceRollout, event: string, reason: string): Record<string, string> {
  return {
    alertname: ALERT_NAMES[event] ?? "VoiceRolloutNotification",
    namespace: rollout.metadata.namespace,
    rollout: rollout.metadata.name,
    reason,
    severity: severityOf(event),
  };
}

/** Alertmanager's POST /api/v2/alerts body: the entry's alert, plus the open alerts it resolves. */
export function alertmanagerPayload(rollout: VoiceRollout, entry: OutboxEntry): unknown[] {
  const at = Date.parse(entry.at);
  const alerts: unknown[] = [];
  if (entry.event !== "resolved") {
    const open = entry.event === "paused" || entry.event === "awaiting-approval" || entry.event === "stuck";
    const annotations: Record<string, string> = {
      summary: `${rollout.metadata.namespace}/${rollout.metadata.name} ${TITLES[entry.event] ?? entry.event} at step ${entry.step}/${entry.steps}, canary ${entry.canaryWeight}%`,
      description: entry.message,
      notification_id: entry.id,
    };
    (entry.findings ?? []).forEach((f, i) => (annotations[`evidence_${i + 1}`] = evidenceLine(f)));
    const commands = commandsOf(rollout, entry);
    if (commands.approve) annotations["approve"] = commands.approve;
    if (commands.abort) annotations["abort"] = commands.abort;
    alerts.push({
      labels: alertLabels(rollout, entry.event, entry.reason),
      annotations,
      startsAt: entry.at,
      endsAt: new Date(at + (open ? OPEN_ALERT_MS : FINISHED_ALERT_MS)).toISOString(),
    });
  }
  for (const key of entry.resolves ?? []) {
    const colon = key.indexOf(":");
    alerts.push({
      labels: alertLabels(rollout, key.slice(0, colon), key.slice(colon + 1)),
      annotations: { summary: `resolved by ${entry.event} (${entry.reason})`, notification_id: entry.id },
      endsAt: entry.at,
    });
  }
  return alerts;
}
