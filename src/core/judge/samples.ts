// Accumulates evaluation rows into per-slice, per-metric state while files stream past. Means and rates keep
// a few numbers per slice; quantiles keep their values in typed arrays (8 bytes a value, no object per row).
import {
  addPair,
  addValue,
  emptyCoMoments,
  emptyMoments,
  type CoMoments,
  type Moments,
} from "../stats/moments.js";
import type { SliceLabels } from "../types.js";
import type { JudgePlan } from "./plan.js";

export type Arm = "baseline" | "canary";

/** A growable Float64Array. */
export class ValueBuffer {
  private data = new Float64Array(16);
  length = 0;
  push(x: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = x;
  }
  /** The values, sorted ascending (a copy; the buffer keeps accepting values). */
  sorted(): Float64Array {
    return this.data.slice(0, this.length).sort();
  }
}

export interface RateCount {
  n: number;
  /** The sum of values in [0, 1]: the count of events for 0/1 values. */
  x: number;
}

export type ArmAccumulator = Moments | RateCount | ValueBuffer;

export interface SliceCell {
  readonly dimension: number;
  readonly labels: SliceLabels;
  /** Rows seen per arm, whatever their metric values. */
  rows: { baseline: number; canary: number };
  readonly baseline: (ArmAccumulator | undefined)[];
  readonly canary: (ArmAccumulator | undefined)[];
  /** Paired mode, mean metrics: the co-moments of (canary, baseline) pairs. */
  readonly paired: (CoMoments | undefined)[];
}

function newAccumulator(kind: "moments" | "rate" | "values"): ArmAccumulator {
  if (kind === "moments") return emptyMoments();
  if (kind === "rate") return { n: 0, x: 0 };
  return new ValueBuffer();
}

function accumulate(acc: ArmAccumulator, x: number): void {
  if (acc instanceof ValueBuffer) acc.push(x);
  else if ("x" in acc) {
    acc.n += 1;
    acc.x += x;
  } else addValue(acc, x);
}

export class SampleStore {
  readonly cells = new Map<string, SliceCell>();
  constructor(
    readonly plan: JudgePlan,
    readonly paired: boolean,
  ) {}

  private cell(dimension: number, labelValues: readonly (string | null)[]): SliceCell | undefined {
    const dim = this.plan.dimensions[dimension]!;
    let key = String(dimension);
    for (const li of dim.labelIndices) {
      const v = labelValues[li];
      if (v === null || v === undefined || v === "") return undefined; // this row has no slice here
      key += "\u0001" + v;
    }
    let cell = this.cells.get(key);
    if (!cell) {
      const labels: Record<string, string> = {};
      for (const li of dim.labelIndices) labels[this.plan.labels[li]!] = labelValues[li]!;
      const n = this.plan.metrics.length;
      cell = {
        dimension,
        labels,
        rows: { baseline: 0, canary: 0 },
        baseline: new Array<ArmAccumulator | undefined>(n).fill(undefined),
        canary: new Array<ArmAccumulator | undefined>(n).fill(undefined),
        paired: new Array<CoMoments | undefined>(n).fill(undefined),
      };
      this.cells.set(key, cell);
    }
    return cell;
  }

  private armAcc(cell: SliceCell, arm: Arm, mi: number): ArmAccumulator {
    const list = cell[arm];
    let acc = list[mi];
    if (!acc) {
      acc = newAccumulator(this.plan.metrics[mi]!.kind);
      list[mi] = acc;
    }
    return acc;
  }

  /** One row of one arm (independent samples). `values[i]` is metric i's value, NaN when missing. */
  add(arm: Arm, labelValues: readonly (string | null)[], values: ArrayLike<number>): void {
    for (let d = 0; d < this.plan.dimensions.length; d++) {
      const cell = this.cell(d, labelValues);
      if (!cell) continue;
      cell.rows[arm] += 1;
      for (const mi of this.plan.dimensions[d]!.metricIndices) {
        const x = values[mi]!;
        if (!Number.isNaN(x)) accumulate(this.armAcc(cell, arm, mi), x);
      }
    }
  }

  /** One matched pair (paired mode): both arms' values for the same utterance. */
  addPair(
    labelValues: readonly (string | null)[],
    baseline: ArrayLike<number>,
    canary: ArrayLike<number>,
  ): void {
    for (let d = 0; d < this.plan.dimensions.length; d++) {
      const cell = this.cell(d, labelValues);
      if (!cell) continue;
      cell.rows.baseline += 1;
      cell.rows.canary += 1;
      for (const mi of this.plan.dimensions[d]!.metricIndices) {
        const b = baseline[mi]!;
        const c = canary[mi]!;
        if (Number.isNaN(b) || Number.isNaN(c)) continue; // a pair needs both sides
        if (this.plan.metrics[mi]!.kind === "moments") {
          let co = cell.paired[mi];
          if (!co) {
            co = emptyCoMoments();
            cell.paired[mi] = co;
          }
          addPair(co, c, b);
        } else {
          accumulate(this.armAcc(cell, "baseline", mi), b);
          accumulate(this.armAcc(cell, "canary", mi), c);
        }
      }
    }
  }
}
