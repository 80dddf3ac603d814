"""The authors' reference numbers for bench/confseq-check/run.ts.

Reads JSON {"alpha": a, "x": [values in [0, 1]]} on stdin and prints, per observation, the two-sided
predictable plug-in empirical-Bernstein confidence sequence at level a computed by PyPI `confseq`
(Waudby-Smith & Ramdas; predmix.py, betting_strategies.py):
  - "reference": confseq's own `predmix_lower_cs` with its `lambda_predmix_eb` bets (truncation 1/2,
    the prior mean 1/2 and variance 1/4 it defaults to), each side at a/2, with the variance increments
    centred at the regularized running mean (1/2 + S_{t-1})/t, as in Theorem 2 of the paper and in voicectl;
  - "empbern": confseq's packaged `predmix_empbern_cs`, which centres the increments at the plain running mean
    (0 before the first observation) instead: shown to size that one difference.
"""
import json
import sys

import numpy as np
from confseq.betting_strategies import lambda_predmix_eb
from confseq.predmix import predmix_empbern_cs, predmix_lower_cs


def reference(x, alpha):
    t = np.arange(1, len(x) + 1)

    def side(y):
        centre = np.append(0.5, (0.5 + np.cumsum(y)) / (t + 1))[: len(y)]
        v = np.power(y - centre, 2)
        return predmix_lower_cs(
            y,
            v=v,
            lambdas_fn=lambda z: lambda_predmix_eb(z, truncation=0.5, alpha=alpha / 2),
            psi_fn=lambda lam: -np.log(1 - lam) - lam,
            alpha=alpha / 2,
        )

    lower = np.maximum(side(x), 0)
    upper = np.minimum(1 - side(1 - x), 1)
    return lower, upper


def main():
    data = json.load(sys.stdin)
    x = np.array(data["x"], dtype=float)
    alpha = float(data["alpha"])
    lower, upper = reference(x, alpha)
    el, eu = predmix_empbern_cs(x, alpha=alpha, truncation=0.5)
    json.dump(
        {
            "reference": {"lower": lower.tolist(), "upper": upper.tolist()},
            "empbern": {
                "lower": np.maximum(el, 0).tolist(),
                "upper": np.minimum(eu, 1).tolist(),
            },
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
