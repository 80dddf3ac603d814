// What `voicectl rollout` shows people: the list (kubectl's columns), one rollout's status with its
// per-slice scorecard, and its history of approvals, aborts, promotions and retries. Pure functions of the
// objects and of `now`, so the views are tested without a cluster or a clock.
import { formatNumber, formatWorsening } from "../../core/format.js";
import type {
  VoiceRollout,
  VoiceRolloutCommand,
  VoiceRolloutStatus,
} from "../../core/resource/voicerollout.js";
import { describeStep, type Step } from "../../core/rollout/plan.js";
import { formatSlice } from "../../core/types.js";

/** Phases after which nothing more happens to a rollout, short of a retry. */
export const TERMINAL_PHASES: ReadonlySet<string> = new Set(["Promoted", "RolledBack", "Failed"]);

/** kubectl's age format: 45s, 5m30s, 3h, 2d4h, 40d. */
export function formatAge(since: string | undefined, now: number): string {
  if (!since) return "<unknown>";
  const t = Date.parse(since);
  if (Number.isNaN(t)) return "<unknown>";
  const s = Math.max(0, Math.floor((now - t) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (d < 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 730) return `${d}d`;
  return `${Math.floor(d / 365)}y`;
}

/** Columns padded to their widest cell, two spaces apart, like kubectl. */
export function columns(rows: readonly (readonly string[])[], indent = ""): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map(
    (r) =>
      indent +
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
  );
}

const phaseOf = (s: VoiceRolloutStatus | undefined) => s?.phase ?? "Pending";

/**
 * "2/5": the current step counted from 1, of the plan's steps ("5/5" once all are done), as kubectl's Step
 * column (status.step), the status view, history and every message number them. status.currentStepIndex, the
 * API field, is the same step counted from 0.
 */
function stepCell(r: VoiceRollout): string {
  const total = r.spec?.steps?.length ?? 0;
  const i = r.status?.currentStepIndex;
  return i === undefined ? `-/${total}` : `${Math.min(i + 1, total)}/${total}`;
}

const weightCell = (s: VoiceRolloutStatus | undefined) =>
  s?.canaryWeight === undefined ? "-" : `${s.canaryWeight}%`;

export function renderRolloutList(
  rollouts: readonly VoiceRollout[],
  opts: { allNamespaces: boolean; now: number },
): string {
  const sorted = [...rollouts].sort(
    (a, b) =>
      a.metadata.namespace.localeCompare(b.metadata.namespace) ||
      a.metadata.name.localeCompare(b.metadata.name),
  );
  const header = [...(opts.allNamespaces ? ["NAMESPACE"] : []), "NAME", "PHASE", "WEIGHT", "STEP", "AGE"];
  const rows = sorted.map((r) => [
    ...(opts.allNamespaces ? [r.metadata.namespace] : []),
    r.metadata.name,
    phaseOf(r.status),
    weightCell(r.status),
    stepCell(r),
    formatAge(r.metadata.creationTimestamp, opts.now),
  ]);
  const all = [header, ...rows];
  return columns(all).join("\n") + "\n";
}

/** A worsening in its finding's units (+27.9% for a relative budget), as the finding's reason says it. */
function worseningCell(x: number | null | undefined, unit: StatusFinding["unit"]): string {
  if (x === null || x === undefined) return "-";
  // A status written before findings carried their unit: the bare number, as it was stored.
  return unit === undefined ? formatNumber(x) : formatWorsening(x, unit);
}

type StatusFinding = NonNullable<VoiceRolloutStatus["lastDecision"]>["findings"][number];

function findingRows(findings: readonly StatusFinding[]): string[][] {
  return findings.map((f) => [
    f.verdict + (f.critical ? " (critical)" : ""),
    f.metric,
    formatSlice(f.slice),
    `${formatNumber(f.baseline)} -> ${formatNumber(f.canary)}`,
    worseningCell(f.worsening, f.unit),
    worseningCell(f.allowed, f.unit),
    f.samples ? `${f.samples.baseline}/${f.samples.canary}` : "-",
  ]);
}

/** The status view: plan with the current step marked, where traffic is, why it waits, the evidence. */
export function renderRolloutStatus(r: VoiceRollout, now: number): string {
  const s = r.status;
  const out: string[] = [];
  const field = (label: string, value: string) => out.push(`${(label + ":").padEnd(12)}${value}`);
  field("Name", `${r.metadata.name}`);
  field("Namespace", r.metadata.namespace);
  field("Phase", phaseOf(s) + (s?.phase === undefined ? " (the operator has not reconciled it yet)" : ""));
  field("Weight", `${weightCell(s)} canary`);
  field("Stable", describeVersion(r.spec?.stable));
  field("Canary", describeVersion(r.spec?.canary));
  field("Policy", r.spec?.policyRef?.name ?? "-");
  if (s?.message) field("Message", s.message);
  if (s?.pause) {
    field("Paused", `${s.pause.kind}: ${s.pause.reason} (${formatAge(s.pause.since, now)} ago)`);
    if (s.pause.kind === "approval" || s.pause.kind === "analysis") {
      const ref = `${r.metadata.name} -n ${r.metadata.namespace}`;
      out.push(`${"".padEnd(12)}approve with: voicectl rollout approve ${ref} --reason "..."`);
      out.push(`${"".padEnd(12)}or abort with: voicectl rollout abort ${ref} --reason "..."`);
    }
    const deadline = s.pause.deadline;
    if (deadline) {
      const onDeadline = r.spec?.approval?.onDeadline ?? "Abort";
      const left = Date.parse(deadline) - now;
      field(
        "Deadline",
        s.pause.escalatedAt
          ? `${deadline}: overdue since ${formatAge(s.pause.escalatedAt, now)} ago (escalated; still waiting)`
          : `${deadline} (${left > 0 ? `in ${formatAge(new Date(now - left).toISOString(), now)}` : "now"}), then ${onDeadline === "Abort" ? "it rolls back" : "it escalates"}`,
      );
    }
  }
  const accepted = s?.acceptedFindings ?? [];
  if (accepted.length > 0) {
    out.push("", "Accepted findings (they do not pause the rollout unless they worsen past the margin):");
    out.push(
      ...columns(
        [
          ["METRIC", "SLICE", "WHEN ACCEPTED", "UP TO", "BY", "STEP"],
          ...accepted.map((a) => [
            a.metric,
            formatSlice(a.slice),
            worseningCell(a.worseningAtApproval, a.unit ?? "metric"),
            a.upTo === null
              ? "rest of the rollout"
              : `${worseningCell(a.upTo, a.unit ?? "metric")} (margin ${a.margin ?? "-"})`,
            a.user,
            String(a.step + 1),
          ]),
        ],
        "  ",
      ),
    );
  }

  out.push("", "Steps:");
  const steps: readonly Step[] = r.spec?.steps ?? [];
  const current = s?.currentStepIndex;
  const phase = s?.phase;
  // Numbered from 1, as history, kubectl's Step column and every message count them.
  const mark = (i: number): string => {
    if (current === undefined) return "";
    if (phase === "Promoted" || i < current) return "done";
    if (i > current) return "";
    return phase === "RolledBack" || phase === "Failed" ? "stopped" : "->";
  };
  out.push(
    ...columns(
      steps.map((step, i) => [
        mark(i),
        String(i + 1),
        describeStep(step),
        mark(i) === "->" && s?.stepStartedAt ? `since ${formatAge(s.stepStartedAt, now)} ago` : "",
      ]),
      "  ",
    ),
  );

  const d = s?.lastDecision;
  out.push("");
  if (!d) {
    out.push("Last decision: none yet");
  } else {
    out.push(`Last decision: ${d.decision.toUpperCase()} (${formatAge(d.at, now)} ago, at ${d.at})`);
    if (d.summary) out.push(`  ${d.summary}`);
    if (d.findings.length > 0) {
      out.push("");
      out.push(
        ...columns(
          [
            ["VERDICT", "METRIC", "SLICE", "BASELINE -> CANARY", "WORSENING", "ALLOWED", "SAMPLES"],
            ...findingRows(d.findings),
          ],
          "  ",
        ),
      );
    } else {
      out.push("  every finding passed");
    }
  }
  if (s?.analysis) {
    out.push(
      `Analysis:   ${s.analysis.looks} looks` +
        (s.analysis.lastLookAt ? `, last ${formatAge(s.analysis.lastLookAt, now)} ago` : "") +
        (s.analysis.restarts ? `, restarted ${s.analysis.restarts} times` : ""),
    );
  }

  const conditions = s?.conditions ?? [];
  if (conditions.length > 0) {
    out.push("", "Conditions:");
    out.push(
      ...columns(
        [
          ["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"],
          ...conditions.map((c) => [
            c.type,
            c.status,
            c.reason,
            formatAge(c.lastTransitionTime, now),
            c.message,
          ]),
        ],
        "  ",
      ),
    );
  }
  return out.join("\n") + "\n";
}

function describeVersion(v: { deployment: string; version?: string | undefined } | undefined): string {
  if (!v) return "-";
  return v.version && v.version !== v.deployment
    ? `deployment/${v.deployment} (version ${v.version})`
    : `deployment/${v.deployment}`;
}

/** A row of the history: an applied entry from status.history, or a command the operator has not applied. */
export interface HistoryRow {
  readonly at: string;
  readonly user: string;
  readonly action: string;
  /** The step counted from 1, as the status view numbers steps; null for a command not in the history. */
  readonly step: number | null;
  /** For approve: what it accepted, in words. */
  readonly accepted?: readonly string[] | undefined;
  /** For approve and promote: the findings that had not passed when the step was pushed through. */
  readonly over?: readonly string[] | undefined;
  readonly reason: string;
  readonly command: string | null;
  readonly state: "applied" | "pending" | "ignored";
  /** The operator's note for an ignored command. */
  readonly result?: string | undefined;
}

/**
 * The rollout's history followed by the commands not in it: those the operator has not applied yet
 * (pending) and those it looked at and set aside (ignored, with its result).
 */
export function historyRows(r: VoiceRollout, commands: readonly VoiceRolloutCommand[]): HistoryRow[] {
  const history = r.status?.history ?? [];
  const recorded = new Set(history.map((h) => h.command).filter((c): c is string => c !== undefined));
  const rows: HistoryRow[] = history.map((h) => ({
    at: h.at,
    user: h.user,
    action: h.action,
    step: h.step + 1,
    reason: h.reason,
    command: h.command ?? null,
    state: "applied",
    ...(h.accepted ? { accepted: h.accepted } : {}),
    ...(h.over ? { over: h.over } : {}),
  }));
  for (const c of commands) {
    if (recorded.has(c.metadata.name)) continue;
    const applied = c.status?.appliedAt !== undefined;
    rows.push({
      at: applied ? c.status!.appliedAt! : (c.metadata.creationTimestamp ?? ""),
      user: c.spec.user,
      action: c.spec.action + (c.spec.action === "promote" && c.spec.full ? " --full" : ""),
      step: null,
      reason: c.spec.reason,
      command: c.metadata.name,
      state: applied ? "ignored" : "pending",
      result: c.status?.result,
    });
  }
  return rows;
}

export function renderHistory(r: VoiceRollout, rows: readonly HistoryRow[], now: number): string {
  const applied = rows.filter((h) => h.state === "applied");
  const waiting = rows.filter((h) => h.state === "pending");
  const ignored = rows.filter((h) => h.state === "ignored");
  const out: string[] = [];
  if (applied.length === 0) {
    out.push(`rollout/${r.metadata.name}: no approvals, aborts, promotions or retries yet`);
  } else {
    out.push(
      ...columns([
        ["WHEN", "USER", "ACTION", "STEP", "REASON", "COMMAND"],
        ...applied.map((h) => [
          `${h.at} (${formatAge(h.at, now)} ago)`,
          h.user,
          h.action,
          String(h.step),
          h.reason,
          h.command ?? "-",
        ]),
      ]),
    );
    // What an approval pushed through and what it accepted, under the table where long text fits.
    for (const h of applied) {
      const notes = [...(h.over ?? []).map((o) => `over ${o}`), ...(h.accepted ?? [])];
      if (notes.length > 0) out.push(`  ${h.action} at step ${h.step} by ${h.user}: ${notes.join("; ")}`);
    }
  }
  if (waiting.length > 0) {
    out.push("", "Not applied yet (the operator applies them on its next reconcile):");
    out.push(
      ...columns(
        [
          ["REQUESTED", "USER", "ACTION", "REASON", "COMMAND"],
          ...waiting.map((h) => [
            `${formatAge(h.at, now)} ago`,
            h.user,
            h.action,
            h.reason,
            h.command ?? "-",
          ]),
        ],
        "  ",
      ),
    );
  }
  if (ignored.length > 0) {
    out.push("", "Set aside by the operator:");
    out.push(
      ...columns(
        [
          ["WHEN", "USER", "ACTION", "REASON", "COMMAND", "RESULT"],
          ...ignored.map((h) => [h.at, h.user, h.action, h.reason, h.command ?? "-", h.result ?? "-"]),
        ],
        "  ",
      ),
    );
  }
  return out.join("\n") + "\n";
}
