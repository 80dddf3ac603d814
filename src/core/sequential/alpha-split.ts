// Weighted Bonferroni between all-traffic and per-slice findings (policy spec.alphaSplit).
//
// Plain Bonferroni gives every declared test of a family the same level, so a policy judging 300 voices gives
// its all-traffic findings 1/300 of the budget each, and the few tests that see the most samples pay for the
// many that see the fewest. Bonferroni stays valid with any weights that sum to one: the declared share of a
// family's alpha, (1 − lateShare)·α, goes a fraction `aggregate` to the family's declared all-traffic tests
// (the empty slice) and the rest to its declared per-slice tests, each part split equally among its tests.
// Late tests keep spending the reserve lateShare·α by the series of verdict.ts (testAlpha), so the levels of
// all tests ever made still sum to at most α: w·(1 − s)·α + (1 − w)·(1 − s)·α + s·α = α.
// When one part of a family is empty at the first look, the other takes the whole declared share (a weight
// left to no test would be alpha thrown away, and would not add to the guarantee).
// The level of a test only costs log(1/level) in samples (verdict.ts), so moving weight to the aggregate buys
// it a lot when there are many slices and costs each slice little (docs/statistics.md#weighting-all-traffic-against-slices).
import { bonferroniAlpha } from "./verdict.js";
import { checkAlpha } from "./mixture.js";

/** The default share of a family's declared alpha for its all-traffic findings (bench/RESULTS.md, "alphaSplit"). */
export const DEFAULT_AGGREGATE_SHARE = 0.5;

/** A test declared at the first look: which family, and whether it judges all traffic (the empty slice). */
export interface DeclaredTest {
  readonly critical: boolean;
  readonly aggregate: boolean;
}

export interface AlphaSplitPlan {
  /** The family's alpha (policy spec.alpha). */
  readonly alpha: number;
  /** Share of the family's declared alpha for all-traffic tests, in (0, 1). */
  readonly aggregateShare: number;
  /** Share of alpha kept for tests that appear later (as testAlpha's; default 0.1). */
  readonly lateShare?: number | undefined;
}

/**
 * The levels of the tests declared at the first look, by family and kind. Within a family the levels sum to
 * (1 − lateShare)·alpha, whatever the weight.
 */
export function declaredLevels(
  plan: AlphaSplitPlan,
  tests: readonly DeclaredTest[],
): (critical: boolean, aggregate: boolean) => number {
  checkAlpha(plan.alpha);
  const w = plan.aggregateShare;
  if (!(w > 0 && w < 1)) throw new RangeError(`aggregateShare must be in (0, 1), got ${w}`);
  const late = plan.lateShare ?? 0.1;
  if (!(late >= 0 && late < 1)) throw new RangeError(`lateShare must be in [0, 1), got ${late}`);
  const counts = new Map<string, number>();
  const at = (critical: boolean, aggregate: boolean) => `${critical}/${aggregate}`;
  for (const t of tests)
    counts.set(at(t.critical, t.aggregate), (counts.get(at(t.critical, t.aggregate)) ?? 0) + 1);
  const count = (critical: boolean, aggregate: boolean) => counts.get(at(critical, aggregate)) ?? 0;
  return (critical, aggregate) => {
    const here = count(critical, aggregate);
    if (here === 0) throw new RangeError("no declared test of this family and kind");
    const other = count(critical, !aggregate);
    const share = other === 0 ? 1 : aggregate ? w : 1 - w;
    return bonferroniAlpha(plan.alpha * (1 - late) * share, here);
  };
}
