// `voicectl rollout approve --accept METRIC[,LABEL=VALUE...] [--margin 5%]`: the findings an approval accepts
// for the rest of the rollout, parsed from the command line and described back to the approver against the
// findings the rollout's status shows, so they see what they accept before the operator applies it.
import { UsageError } from "../../../core/errors.js";
import { formatPercent, formatWorsening } from "../../../core/format.js";
import type { VoiceRollout, VoiceRolloutCommandSpec } from "../../../core/resource/voicerollout.js";
import { formatSlice } from "../../../core/types.js";

export type AcceptSpec = NonNullable<VoiceRolloutCommandSpec["accept"]>[number];

const MARGIN = /^\d+(\.\d+)?%?$/;
const METRIC = /^[A-Za-z_][A-Za-z0-9_:.-]*$/;

/**
 * One --accept value: `ttfa_p95`, `ttfa_p95,voice_id=mia-chen` (also `ttfa_p95,slice=voice_id=mia-chen`, as
 * the slice is written in a finding), optionally `,margin=5%`. --margin gives every --accept without its own.
 */
export function parseAccept(text: string, margin: string | undefined): AcceptSpec {
  const [metric = "", ...parts] = text.split(",").map((p) => p.trim());
  if (!METRIC.test(metric))
    throw new UsageError(
      `--accept ${text}: expected METRIC[,LABEL=VALUE...][,margin=5%], e.g. --accept ttfa_p95,voice_id=mia-chen; "${metric}" is not a metric name`,
    );
  const slice: Record<string, string> = {};
  let own: string | undefined;
  for (const part of parts) {
    const kv = part.startsWith("slice=") ? part.slice("slice=".length) : part;
    const eq = kv.indexOf("=");
    if (eq <= 0 || eq === kv.length - 1)
      throw new UsageError(`--accept ${text}: expected LABEL=VALUE after the metric, found "${part}"`);
    const key = kv.slice(0, eq);
    const value = kv.slice(eq + 1);
    if (key === "margin" && !part.startsWith("slice=")) own = value;
    else slice[key] = value;
  }
  const m = own ?? margin;
  if (m !== undefined && !MARGIN.test(m))
    throw new UsageError(
      `${own !== undefined ? `--accept ${text}: margin` : "--margin"}: expected 5% (of the baseline's value) or a number in the worsening's units such as 0.02, found "${m}"`,
    );
  return {
    metric,
    ...(Object.keys(slice).length > 0 ? { slice } : {}),
    ...(m !== undefined ? { margin: m } : {}),
  };
}

export function parseAccepts(values: readonly string[], margin: string | undefined): AcceptSpec[] {
  if (margin !== undefined && values.length === 0)
    throw new UsageError(
      "--margin needs --accept METRIC: the margin is how much worse an accepted finding may get",
    );
  if (values.length > 20) throw new UsageError(`--accept: at most 20, got ${values.length}`);
  return values.map((v) => parseAccept(v, margin));
}

type StatusFinding = NonNullable<NonNullable<VoiceRollout["status"]>["lastDecision"]>["findings"][number];

const covers = (a: AcceptSpec, f: StatusFinding) =>
  a.metric === f.metric && Object.entries(a.slice ?? {}).every(([k, v]) => f.slice[k] === v);

/**
 * What an acceptance means for this rollout now, in words, or a UsageError when it names a critical metric:
 * a critical failure rolls back whatever an approver says, so accepting it would promise what is not kept.
 */
export function describeAccept(a: AcceptSpec, rollout: VoiceRollout): string {
  const findings = rollout.status?.lastDecision?.findings ?? [];
  const matching = findings.filter((f) => covers(a, f));
  const critical = matching.find((f) => f.critical);
  if (critical)
    throw new UsageError(
      `--accept ${a.metric}: ${critical.metric} is critical in this rollout's policy; a critical finding is never accepted (its failure rolls back), only non-critical ones`,
    );
  const name = `${a.metric} in ${formatSlice(a.slice ?? {})}`;
  const worst = matching
    .filter((f) => f.verdict !== "pass")
    .sort((x, y) => (y.worsening ?? -Infinity) - (x.worsening ?? -Infinity))[0];
  const unit = worst?.unit ?? "metric";
  const now =
    worst?.worsening !== undefined && worst.worsening !== null
      ? ` (now ${formatWorsening(worst.worsening, unit)}, ${worst.verdict})`
      : " (no finding of it failing now)";
  if (a.margin === undefined) return `${name}${now} for the rest of the rollout`;
  const pct = a.margin.endsWith("%");
  const margin = pct
    ? `${formatPercent(Number(a.margin.slice(0, -1)) / 100)} of its baseline`
    : `${a.margin} in its worsening's units`;
  return `${name}${now} until it worsens by more than ${margin} beyond that`;
}
