"""Seconds per disentanglement metric at disentanglement_lib's default sizes (10,000 points).

Two representations of a toy data set (10 independent factors, 10 values each,
observation = the factor vector as floats):

* ``identity``: the observation itself (10 codes, perfectly disentangled);
* ``proj200``: a fixed random projection to 200 codes (entangled, dense), the
  size of DC-IGN's graphics code.

DCI with the field's GBT on 200 dense codes takes hours, so by default that one
entry is *estimated* from a single one-stage GBT fit (stage time x 100 stages x
10 factors; marked "est."); ``--full-dci`` runs it for real. ``dci[extra_trees]``
is the documented fast alternative.

Usage::

    python benchmarks/metrics_speed.py [--only mig sap ...] [--representation identity] [--full-dci]

The target is under 60 s per metric on the development machine (2 cores). DCI fits
its per-factor classifiers in parallel processes (``n_jobs=-1``, the default); the
``dci[1 core]`` row times the same computation with ``n_jobs=1`` (same scores).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # the box is shared; avoid oversubscription

import numpy as np  # noqa: E402
from sklearn.ensemble import GradientBoostingClassifier  # noqa: E402

from dcign import metrics  # noqa: E402


class IndependentFactors:
    """K independent factors, each uniform on V values; observation = factors as float."""

    def __init__(self, num_factors: int = 10, num_values: int = 10) -> None:
        self.num_factors = num_factors
        self.factors_num_values = [num_values] * num_factors

    def sample_factors(self, num: int, random_state: np.random.RandomState) -> np.ndarray:
        return random_state.randint(self.factors_num_values[0], size=(num, self.num_factors))

    def sample_observations_from_factors(self, factors: np.ndarray, random_state) -> np.ndarray:
        return factors.astype(np.float64)


PROJECTION = np.random.RandomState(1234).randn(10, 200)
REPRESENTATIONS = {"identity": lambda x: x, "proj200": lambda x: x @ PROJECTION}
RUNS = {  # label -> (metric, settings)
    "beta_vae_score": (metrics.beta_vae_score, {}),
    "factor_vae_score": (metrics.factor_vae_score, {}),
    "mig": (metrics.mig, {}),
    "dci": (metrics.dci, {}),
    "dci[1 core]": (metrics.dci, {"n_jobs": 1}),
    "dci[extra_trees]": (metrics.dci, {"model": "extra_trees"}),
    "sap": (metrics.sap, {}),
    "modularity": (metrics.modularity, {}),
}


def estimate_gbt_seconds(data: IndependentFactors, representation, num_points: int) -> float:
    """Time one GBT stage on one factor and extrapolate to 100 stages x all factors."""
    factors, codes = metrics.sample(data, representation, num_points, 0)
    start = time.perf_counter()
    GradientBoostingClassifier(n_estimators=1, random_state=0).fit(codes, factors[:, 0])
    return (time.perf_counter() - start) * 100 * data.num_factors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(RUNS), help="metrics to time (default: all)")
    parser.add_argument("--representation", nargs="*", choices=sorted(REPRESENTATIONS),
                        default=sorted(REPRESENTATIONS))
    parser.add_argument("--full-dci", action="store_true", help="run GBT DCI on proj200 for real (hours)")
    args = parser.parse_args()
    data = IndependentFactors()
    print(f"{'representation':<15}{'metric':<20}{'seconds':>10}  headline score")
    for rep_name in args.representation:
        representation = REPRESENTATIONS[rep_name]
        for label in args.only or RUNS:
            fn, settings = RUNS[label]
            if label.startswith("dci") and "extra" not in label and rep_name == "proj200" and not args.full_dci:
                if label == "dci":  # one estimate for both rows: hours either way
                    seconds = estimate_gbt_seconds(data, representation, 10_000)
                    print(f"{rep_name:<15}{'dci[1 core]':<20}{seconds:>10.1f}  (est.: 1 stage x 100 x 10 factors; "
                          f"n_jobs=-1 divides by at most {os.cpu_count()} cores)", flush=True)
                continue
            start = time.perf_counter()
            result = fn(data, representation, 0, **settings)
            seconds = time.perf_counter() - start
            name = fn.__name__
            score = result[metrics.HEADLINE_KEYS[name]]
            print(f"{rep_name:<15}{label:<20}{seconds:>10.1f}  {metrics.HEADLINE_KEYS[name]}={score:.3f}", flush=True)


if __name__ == "__main__":
    main()
