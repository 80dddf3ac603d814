// Turns two evaluation files into what the judge takes: a SampleStore (independent or paired rows) or two
// summary tables. Values are checked as they stream past; every problem is reported with file and line.
import { InvalidInputError, type Problem } from "../../core/errors.js";
import { parseDecimal } from "../../core/decimal.js";
import type { JudgePlan } from "../../core/judge/plan.js";
import { SampleStore, type Arm } from "../../core/judge/samples.js";
import {
  summaryDimension,
  summaryKey,
  type SummaryRow,
  type SummaryTable,
} from "../../core/judge/summary.js";
import { formatOf, ProblemList, readEvalFile, type Cell, type Progress } from "./eval-reader.js";

export interface GateFiles {
  readonly baseline: string;
  readonly canary: string;
  /** Told how far reading has got, for long runs. */
  readonly progress?: Progress | undefined;
}

export interface SampleInput {
  readonly store: SampleStore;
  readonly missingColumns: { baseline: Set<string>; canary: Set<string> };
  readonly notes: string[];
}

/** The columns to read and where each metric's value sits among them. */
interface Layout {
  readonly wanted: string[];
  readonly labelCount: number;
  /** For each metric, its index in `wanted`. */
  readonly metricCell: number[];
  readonly columns: string[];
}

function layoutOf(plan: JudgePlan, extra: readonly string[]): Layout {
  const columns = [...new Set(plan.metrics.map((m) => m.column))];
  const wanted = [...plan.labels, ...columns, ...extra];
  return {
    wanted,
    labelCount: plan.labels.length,
    metricCell: plan.metrics.map((m) => plan.labels.length + columns.indexOf(m.column)),
    columns,
  };
}

/**
 * A cell as it may appear in an error message: short tokens (a mistyped number, an id) are shown; anything
 * longer or with spaces may be a transcript in the wrong column, so only its length is (no text payloads
 * in messages).
 */
export const preview = (v: string | number) => {
  const s = String(v);
  return /^[\w.+:-]{1,24}$/.test(s) ? s : `<text of ${s.length} characters>`;
};

/** Reads one row's metric values into `out` (NaN where missing), reporting values that are not numbers. */
function readValues(
  plan: JudgePlan,
  layout: Layout,
  cells: readonly Cell[],
  line: number,
  problems: ProblemList,
  out: Float64Array,
): void {
  for (let mi = 0; mi < plan.metrics.length; mi++) {
    const cell = cells[layout.metricCell[mi]!];
    if (cell === null || cell === undefined) {
      out[mi] = NaN;
      continue;
    }
    const x = typeof cell === "number" ? cell : Number(cell);
    const metric = plan.metrics[mi]!;
    // Number(" ") is 0: only a zero needs the blank check, so most cells skip the trim.
    if (!Number.isFinite(x) || (x === 0 && typeof cell === "string" && cell.trim() === "")) {
      problems.add(line, metric.column, `expected a number, found "${preview(cell)}"`);
      out[mi] = NaN;
    } else if (metric.kind === "rate" && (x < 0 || x > 1)) {
      problems.add(
        line,
        metric.column,
        `expected a rate value between 0 and 1 (1 = the event happened), found ${x}`,
      );
      out[mi] = NaN;
    } else out[mi] = x;
  }
}

function labelsOf(layout: Layout, cells: readonly Cell[], into: (string | null)[]): void {
  for (let i = 0; i < layout.labelCount; i++) {
    const c = cells[i];
    into[i] = c === null || c === undefined ? null : String(c);
  }
}

function missingOf(layout: Layout, present: ReadonlySet<string>): Set<string> {
  return new Set(layout.columns.filter((c) => !present.has(c)));
}

/** The policy fields that slice by a label: `spec.sliceBy` for metrics without their own, else theirs. */
function slicingFields(plan: JudgePlan, label: string): string[] {
  const fields = new Set<string>();
  plan.policy.spec.metrics.forEach((m, mi) => {
    const dims = m.sliceBy ?? plan.policy.spec.sliceBy;
    if (dims.some((d) => (typeof d === "string" ? d === label : d.includes(label))))
      fields.add(m.sliceBy ? `spec.metrics[${mi}].sliceBy` : "spec.sliceBy");
  });
  return [...fields];
}

/**
 * A label column the policy slices by, absent from a file. Unlike a metric's column (its findings are
 * nodata), a missing label is a mistake in the file: judged, every slice of it would be "never seen" in that
 * arm, or, paired, take the other file's labels.
 */
function missingLabels(plan: JudgePlan, file: string, present: ReadonlySet<string>): Problem[] {
  const csv = formatOf(file) === "csv";
  return plan.labels
    .filter((label) => !present.has(label))
    .map((label) => ({
      file,
      path: label,
      message: `${csv ? `no "${label}" column in the header` : `no row has a value for "${label}"`}, but the policy slices by it (${slicingFields(plan, label).join(", ")})`,
    }));
}

function throwIfAny(problems: readonly Problem[]): void {
  if (problems.length > 0) throw new InvalidInputError(problems);
}

/** Independent samples: each file's rows go to their own arm. */
export async function loadIndependent(plan: JudgePlan, files: GateFiles): Promise<SampleInput> {
  const layout = layoutOf(plan, []);
  const store = new SampleStore(plan, false);
  const missingColumns = { baseline: new Set<string>(), canary: new Set<string>() };
  const labels: (string | null)[] = new Array<string | null>(layout.labelCount).fill(null);
  const values = new Float64Array(plan.metrics.length);
  const unlabelled: Problem[] = [];
  for (const arm of ["baseline", "canary"] as Arm[]) {
    const file = files[arm];
    const problems = new ProblemList(file);
    const result = await readEvalFile(
      file,
      layout.wanted,
      (cells, line) => {
        labelsOf(layout, cells, labels);
        readValues(plan, layout, cells, line, problems, values);
        store.add(arm, labels, values);
      },
      problems,
      files.progress,
    );
    missingColumns[arm] = missingOf(layout, result.present);
    unlabelled.push(...missingLabels(plan, file, result.present));
  }
  throwIfAny(unlabelled);
  return { store, missingColumns, notes: [] };
}

/** A growable column of numbers with random access (paired mode keeps the baseline in columns). */
class Column {
  data = new Float64Array(1024);
  set(i: number, x: number): void {
    if (i >= this.data.length) {
      const next = new Float64Array(Math.max(this.data.length * 2, i + 1));
      next.set(this.data);
      this.data = next;
    }
    this.data[i] = x;
  }
}

/**
 * Paired samples: the baseline file is held in typed columns keyed by the pair column (one map entry per
 * utterance, no object per row), then the canary file streams past and each row meets its partner.
 */
export async function loadPaired(plan: JudgePlan, files: GateFiles, pairBy: string): Promise<SampleInput> {
  const layout = layoutOf(plan, [pairBy]);
  const idCell = layout.wanted.length - 1;
  const store = new SampleStore(plan, true);
  const rowOf = new Map<string, number>();
  const firstLine: number[] = [];
  const metricColumns = plan.metrics.map(() => new Column());
  const labelIds = Array.from({ length: layout.labelCount }, () => new Column());
  const interned: string[] = [];
  const internIndex = new Map<string, number>();
  const intern = (s: string | null): number => {
    if (s === null) return -1;
    let i = internIndex.get(s);
    if (i === undefined) {
      i = interned.length;
      interned.push(s);
      internIndex.set(s, i);
    }
    return i;
  };

  const values = new Float64Array(plan.metrics.length);
  const labels: (string | null)[] = new Array<string | null>(layout.labelCount).fill(null);
  const baselineProblems = new ProblemList(files.baseline);
  const baselineNoId = new ProblemList(files.baseline);
  const baselineRead = await readEvalFile(
    files.baseline,
    layout.wanted,
    (cells, line) => {
      const id = cells[idCell];
      if (id === null || id === undefined) {
        baselineNoId.add(line, pairBy, "no value in the pair column");
        return;
      }
      const key = String(id);
      const seen = rowOf.get(key);
      if (seen !== undefined) {
        baselineProblems.add(
          line,
          pairBy,
          `"${preview(key)}" appears twice (first on line ${firstLine[seen]})`,
        );
        return;
      }
      const row = rowOf.size;
      rowOf.set(key, row);
      firstLine.push(line);
      readValues(plan, layout, cells, line, baselineProblems, values);
      values.forEach((x, mi) => metricColumns[mi]!.set(row, x));
      labelsOf(layout, cells, labels);
      labels.forEach((l, li) => labelIds[li]!.set(row, intern(l)));
    },
    baselineProblems,
    files.progress,
  );
  requirePairColumn(files.baseline, baselineRead.present, pairBy, baselineNoId);

  const matched = new Uint8Array(rowOf.size);
  const baselineValues = new Float64Array(plan.metrics.length);
  const baselineLabels: (string | null)[] = new Array<string | null>(layout.labelCount).fill(null);
  let unmatchedCanary = 0;
  const canaryProblems = new ProblemList(files.canary);
  const canaryNoId = new ProblemList(files.canary);
  const canaryRead = await readEvalFile(
    files.canary,
    layout.wanted,
    (cells, line) => {
      const id = cells[idCell];
      if (id === null || id === undefined) {
        canaryNoId.add(line, pairBy, "no value in the pair column");
        return;
      }
      const key = String(id);
      const row = rowOf.get(key);
      if (row === undefined) {
        unmatchedCanary += 1;
        return;
      }
      if (matched[row]) {
        canaryProblems.add(line, pairBy, `"${preview(key)}" appears twice`);
        return;
      }
      matched[row] = 1;
      readValues(plan, layout, cells, line, canaryProblems, values);
      labelsOf(layout, cells, labels);
      for (let li = 0; li < layout.labelCount; li++) {
        const id = labelIds[li]!.data[row]!;
        baselineLabels[li] = id < 0 ? null : interned[id]!;
        if (labels[li] !== null && baselineLabels[li] !== null && labels[li] !== baselineLabels[li]) {
          canaryProblems.add(
            line,
            plan.labels[li],
            `"${preview(labels[li]!)}" here but "${preview(baselineLabels[li]!)}" for the same ${pairBy} in the baseline file (line ${firstLine[row]})`,
          );
        }
      }
      for (let mi = 0; mi < plan.metrics.length; mi++) baselineValues[mi] = metricColumns[mi]!.data[row]!;
      store.addPair(baselineLabels, baselineValues, values);
    },
    canaryProblems,
    files.progress,
  );
  requirePairColumn(files.canary, canaryRead.present, pairBy, canaryNoId);
  throwIfAny([
    ...missingLabels(plan, files.baseline, baselineRead.present),
    ...missingLabels(plan, files.canary, canaryRead.present),
  ]);

  const notes: string[] = [];
  const unmatchedBaseline = matched.reduce((n, m) => n + (m ? 0 : 1), 0);
  if (unmatchedBaseline > 0)
    notes.push(
      `${unmatchedBaseline} baseline rows have no canary row with the same ${pairBy}; they are not compared`,
    );
  if (unmatchedCanary > 0)
    notes.push(
      `${unmatchedCanary} canary rows have no baseline row with the same ${pairBy}; they are not compared`,
    );
  return {
    store,
    missingColumns: {
      baseline: missingOf(layout, baselineRead.present),
      canary: missingOf(layout, canaryRead.present),
    },
    notes,
  };
}

/** A file without the pair column is one mistake, not one per row; rows without an id are listed. */
function requirePairColumn(
  file: string,
  present: ReadonlySet<string>,
  pairBy: string,
  rowsWithoutId: ProblemList,
): void {
  if (!present.has(pairBy)) {
    throw new InvalidInputError([{ file, path: pairBy, message: "the --pair-by column is not in the file" }]);
  }
  rowsWithoutId.throwIfAny();
}

/** Summary mode: one row per slice, values kept as the decimal text written in the file. */
export async function loadSummary(plan: JudgePlan, file: string, progress?: Progress): Promise<SummaryTable> {
  const layout = layoutOf(plan, ["n"]);
  const nCell = layout.wanted.length - 1;
  const table = new Map<string, SummaryRow & { line: number }>();
  const problems = new ProblemList(file);
  const read = await readEvalFile(
    file,
    layout.wanted,
    (cells, line) => {
      const filled: number[] = [];
      const labels: Record<string, string> = {};
      for (let li = 0; li < layout.labelCount; li++) {
        const c = cells[li];
        if (c !== null && c !== undefined) {
          filled.push(li);
          labels[plan.labels[li]!] = String(c);
        }
      }
      const dimension = summaryDimension(plan, filled);
      if (dimension < 0) {
        problems.add(
          line,
          undefined,
          `labels ${filled.map((li) => plan.labels[li]).join("+")} name no slice dimension of the policy's sliceBy`,
        );
        return;
      }
      const key = summaryKey(dimension, labels);
      const earlier = table.get(key);
      if (earlier) {
        problems.add(line, undefined, `a second row for the same slice (first on line ${earlier.line})`);
        return;
      }
      const values = new Map<string, string>();
      layout.columns.forEach((column, ci) => {
        const c = cells[layout.labelCount + ci];
        if (c === null || c === undefined) return;
        const text = String(c);
        if (parseDecimal(text) === null)
          problems.add(line, column, `expected a number, found "${preview(text)}"`);
        else values.set(column, text);
      });
      let n: number | null = null;
      const nText = cells[nCell];
      if (nText !== null && nText !== undefined) {
        n = Number(nText);
        if (!Number.isInteger(n) || n < 0) {
          problems.add(line, "n", `expected a whole number of samples, found "${preview(nText)}"`);
          n = null;
        }
      }
      table.set(key, { dimension, labels, values, n, line });
    },
    problems,
    progress,
  );
  throwIfAny(missingLabels(plan, file, read.present));
  return table;
}
