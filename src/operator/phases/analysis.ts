// Phase 4 of a pass, the analysis look: load the online analysis state, take a look of live traffic when one
// is due, save the state before the status is written, and read the findings as they stand. analyse() and
// observe() are the reconciler's own, moved here unchanged when the pass was split by concern.
import { planJudge, type JudgePlan } from "../../core/judge/plan.js";
import type { Look } from "../../core/analysis/look.js";
import { analyzeLook, decideOnline, findingsOf, initialOnlineState } from "../../core/analysis/online.js";
import { trafficSteps } from "../../core/analysis/windows.js";
import type { Policy } from "../../core/policy/schema.js";
import type { VoiceRollout } from "../../core/resource/voicerollout.js";
import type { AnalysisObservation, RolloutStatus } from "../../core/rollout/machine.js";
import type { Logger } from "../log.js";
import type { Ports, StoredAnalysis } from "../ports.js";
import { fromTime, toTime } from "../status.js";
import type { Pass } from "./pass.js";

/** Why a whole look is missing; no error text, which may carry a URL or a response body. */
export const SOURCE_FAILED = "the metric source failed at this look";

/** The findings as they stand after the stored state's latest look: the same between two looks as at it. */
export function observe(policy: Policy, plan: JudgePlan, stored: StoredAnalysis): AnalysisObservation {
  const gaps: Look = { at: stored.lastLookAt, canaryWeight: 0, cells: [], unavailable: stored.unavailable };
  const findings = findingsOf(plan, stored.state, gaps);
  const d = decideOnline(findings, policy);
  return { at: stored.lastLookAt, findings, decision: d.decision, summary: d.summary };
}

export interface AnalysisPass {
  readonly stored: StoredAnalysis;
  readonly observation: AnalysisObservation | null;
  readonly restarted: boolean;
  readonly lostLooks: number;
  readonly analysisMs: number | undefined;
}

/**
 * Loads the analysis state, takes a look when one is due, and saves the state before the status is written,
 * so a pass that dies after the save does not take the same look twice. A look whose source fails adds no
 * samples and marks every metric unavailable: its findings are nodata (or still fail), never a new pass.
 */
export async function analyse(
  ports: Ports,
  rollout: VoiceRollout,
  policy: Policy,
  weight: number,
  intervalMs: number,
  now: number,
  log: Logger,
): Promise<AnalysisPass> {
  const plan = planJudge(policy);
  const previous = rollout.status?.analysis;
  const loaded = await ports.analysis.load(rollout);
  const lostLooks = previous?.looks ?? 0;
  // Status counts the stored state's looks; more looks in status than in the store means it was lost.
  const restarted = lostLooks > (loaded?.state.looks ?? 0);
  // The next look starts where the last one recorded in status ended (or now, for a new rollout).
  const lastLookAt = fromTime(previous?.lastLookAt) ?? now;
  let stored: StoredAnalysis = loaded ?? {
    // The plan's traffic steps share the step windows' alpha (windows.ts).
    state: initialOnlineState({ trafficSteps: trafficSteps(rollout.spec.steps), startedAt: lastLookAt }),
    lastLookAt,
  };
  let changed = loaded === null;
  let analysisMs: number | undefined;
  if (now - stored.lastLookAt >= intervalMs) {
    const started = ports.clock.now();
    let look: Look | null = null;
    try {
      look = await ports.metrics.for(rollout, policy).look(stored.lastLookAt, now, weight);
    } catch (err) {
      log.warn("look failed: the metric source did not answer", {
        error: err,
        from: toTime(stored.lastLookAt),
        to: toTime(now),
      });
    }
    if (look) {
      const r = analyzeLook(policy, stored.state, look, plan);
      const unavailable =
        look.unavailable && Object.keys(look.unavailable).length > 0 ? look.unavailable : undefined;
      stored = { state: r.state, lastLookAt: now, unavailable };
    } else {
      // The window's samples are skipped, as a simulated fault skips them: the tests stay valid without
      // them, and the state's first-look alpha split is not spent on a look that saw nothing.
      const unavailable = Object.fromEntries(policy.spec.metrics.map((m) => [m.name, SOURCE_FAILED]));
      stored = { state: stored.state, lastLookAt: now, unavailable };
    }
    analysisMs = ports.clock.now() - started;
    changed = true;
  }
  if (changed) await ports.analysis.save(rollout, stored);
  const observation =
    stored.state.looks > 0 || stored.unavailable !== undefined ? observe(policy, plan, stored) : null;
  return { stored, observation, restarted, lostLooks, analysisMs };
}

/**
 * The phase as the pass runs it: a rollout that had ended takes no look, and drops a state left over by a
 * pass that died before dropping it, before a retry could judge the new canary with the evidence against
 * the old one. Without a usable policy nothing is judged.
 */
export async function lookAtCanary(
  pass: Pass,
  policy: Policy | null,
  before: RolloutStatus,
  terminalBefore: boolean,
): Promise<AnalysisPass | null> {
  const { ports, rollout } = pass;
  if (terminalBefore) {
    if ((await ports.analysis.load(rollout)) !== null) await ports.analysis.remove(rollout);
    return null;
  }
  if (!policy) return null;
  return analyse(ports, rollout, policy, before.canaryWeight, pass.intervalMs, pass.now, pass.log);
}
