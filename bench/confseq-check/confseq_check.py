"""The authors' reference numbers for bench/confseq-check/run.ts.

Reads JSON {"alpha": a, "x": [values in [0, 1]], "bets": [g_1, ..., g_J], "anchor": c or null} on stdin and
prints, per observation:
  - "grid": voicectl's sequence rebuilt from PyPI `confseq` (Howard & Waudby-Smith; predmix.py): for each bet g_j,
    confseq's `predmix_lower_cs` with the constant bet g_j/h, psi(g_j)/h^2 per unit of variance, level a/(2J), and
    the variance increments (x_i - m_i)^2, where m_i is the running mean of the earlier values (the anchor, else
    1/2, before the first) clamped to [c - 0.1, c + 0.1] with an anchor ([0, 1] without), and h is the highest
    centre (the lowest, from 1, for the upper end, computed the same way on 1 - x); the lower end is the largest
    over the bets, the upper end the smallest;
  - "prpl": confseq's packaged predictable plug-in empirical-Bernstein sequence `predmix_empbern_cs`
    (truncation 1/2), the method of Waudby-Smith & Ramdas's Theorem 2, for comparison of widths.
"""
import json
import sys

import numpy as np
from confseq.predmix import predmix_empbern_cs, predmix_lower_cs


def grid(x, alpha, bets, anchor):
    t = np.arange(1, len(x) + 1)
    low, high = (0.0, 1.0) if anchor is None else (max(0.0, anchor - 0.1), min(1.0, anchor + 0.1))
    first = 0.5 if anchor is None else anchor

    def side(y, first, low, high):
        centre = np.clip(np.append(first, np.cumsum(y) / t)[: len(y)], low, high)
        v = np.power(y - centre, 2)
        h = high
        lows = [
            predmix_lower_cs(
                y,
                v=v,
                lambdas_fn=lambda z, g=g: np.full(len(z), g / h),
                psi_fn=lambda lam: (-np.log(1 - lam * h) - lam * h) / h**2,
                alpha=alpha / (2 * len(bets)),
            )
            for g in bets
        ]
        return np.max(np.array(lows), axis=0)

    lower = side(x, first, low, high)
    upper = 1 - side(1 - x, 1 - first, 1 - high, 1 - low)
    return np.maximum(lower, 0), np.minimum(upper, 1)


def main():
    data = json.load(sys.stdin)
    x = np.array(data["x"], dtype=float)
    alpha = float(data["alpha"])
    anchor = data.get("anchor")
    lower, upper = grid(x, alpha, [float(b) for b in data["bets"]], None if anchor is None else float(anchor))
    pl, pu = predmix_empbern_cs(x, alpha=alpha, truncation=0.5)
    json.dump(
        {
            "grid": {"lower": lower.tolist(), "upper": upper.tolist()},
            "prpl": {"lower": np.maximum(pl, 0).tolist(), "upper": np.minimum(pu, 1).tolist()},
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
