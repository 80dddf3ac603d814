"""The authors' reference numbers for bench/confseq-check/run.ts.

Reads JSON {"alpha": a, "x": [values in [0, 1]], "bets": [λ_1, ..., λ_J]} on stdin and prints, per observation:
  - "grid": voicectl's sequence rebuilt from PyPI `confseq` (Howard & Waudby-Smith; predmix.py): for each bet λ_j,
    confseq's `predmix_lower_cs` with the constant bet λ_j, level a/(2J), and the variance increments
    (x_i - m_i)^2 centred at the running mean of the earlier values (1/2 before the first); the lower end is the
    largest over the bets, the upper end (the same on 1 - x) the smallest;
  - "prpl": confseq's packaged predictable plug-in empirical-Bernstein sequence `predmix_empbern_cs`
    (truncation 1/2), the method of Waudby-Smith & Ramdas's Theorem 2, for comparison of widths.
"""
import json
import sys

import numpy as np
from confseq.predmix import predmix_empbern_cs, predmix_lower_cs


def grid(x, alpha, bets):
    t = np.arange(1, len(x) + 1)

    def side(y):
        centre = np.append(0.5, np.cumsum(y) / t)[: len(y)]
        v = np.power(y - centre, 2)
        lows = [
            predmix_lower_cs(
                y,
                v=v,
                lambdas_fn=lambda z, lam=lam: np.full(len(z), lam),
                psi_fn=lambda lam: -np.log(1 - lam) - lam,
                alpha=alpha / (2 * len(bets)),
            )
            for lam in bets
        ]
        return np.max(np.array(lows), axis=0)

    return np.maximum(side(x), 0), np.minimum(1 - side(1 - x), 1)


def main():
    data = json.load(sys.stdin)
    x = np.array(data["x"], dtype=float)
    alpha = float(data["alpha"])
    lower, upper = grid(x, alpha, [float(b) for b in data["bets"]])
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
