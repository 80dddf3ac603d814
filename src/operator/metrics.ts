// The operator's own Prometheus metrics (docs/operator.md#observability: phase, weight, decisions,
// durations), in a Registry of their own so tests and a second operator in one process never share series.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Phase } from "../core/rollout/machine.js";
import type { Decision } from "../core/types.js";
import type { RolloutRef } from "./ports.js";

export const PHASES: readonly Phase[] = ["Progressing", "Paused", "Promoted", "RolledBack", "Failed"];

export class OperatorMetrics {
  readonly registry = new Registry();
  private readonly phase: Gauge<"namespace" | "rollout" | "phase">;
  private readonly weight: Gauge<"namespace" | "rollout">;
  private readonly decisions: Counter<"decision" | "reason">;
  private readonly analysisDuration: Histogram;
  private readonly reconcileDuration: Histogram;
  private readonly reconcileErrors: Counter;

  constructor() {
    const registers = [this.registry];
    this.phase = new Gauge({
      name: "voicectl_rollout_phase",
      help: "1 for the rollout's current phase, 0 for the others.",
      labelNames: ["namespace", "rollout", "phase"],
      registers,
    });
    this.weight = new Gauge({
      name: "voicectl_rollout_canary_weight",
      help: "Percent of traffic the canary gets, as last written to status.",
      labelNames: ["namespace", "rollout"],
      registers,
    });
    this.decisions = new Counter({
      name: "voicectl_decisions_total",
      help: "Rollout decisions: promote, pause (by pause kind) and rollback (by cause).",
      labelNames: ["decision", "reason"],
      registers,
    });
    this.analysisDuration = new Histogram({
      name: "voicectl_analysis_duration_seconds",
      help: "Time to take one look of live traffic and analyse it.",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: "voicectl_reconcile_duration_seconds",
      help: "Time of one reconcile pass over one rollout.",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: "voicectl_reconcile_errors_total",
      help: "Reconcile passes that failed and were retried with backoff (lost write races excluded).",
      registers,
    });
  }

  rollout(ref: RolloutRef, phase: Phase, canaryWeight: number): void {
    for (const p of PHASES)
      this.phase.set({ namespace: ref.namespace, rollout: ref.name, phase: p }, p === phase ? 1 : 0);
    this.weight.set({ namespace: ref.namespace, rollout: ref.name }, canaryWeight);
  }

  /** The rollout is gone: its series go with it rather than reporting a phase forever. */
  forget(ref: RolloutRef): void {
    for (const p of PHASES) this.phase.remove({ namespace: ref.namespace, rollout: ref.name, phase: p });
    this.weight.remove({ namespace: ref.namespace, rollout: ref.name });
  }

  decision(decision: Decision, reason: string): void {
    this.decisions.inc({ decision, reason });
  }

  analysis(seconds: number): void {
    this.analysisDuration.observe(seconds);
  }

  reconciled(seconds: number): void {
    this.reconcileDuration.observe(seconds);
  }

  error(): void {
    this.reconcileErrors.inc();
  }

  /** The exposition text for /metrics. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
