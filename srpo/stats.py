"""The few statistics the reports use: a mean with its 95% interval over seeds, a paired difference over
seeds, and the two-proportion z of one evaluation. No SciPy in the CPU environment: the t quantiles are the
standard two-sided 95% table (any statistics textbook, e.g. NIST/SEMATECH e-Handbook §1.3.6.7.2).

A seed is one training run (its own data order, dropout and rollouts); over seeds the interval measures the
run-to-run spread of training *and* the sampling noise of the evaluation. A z over test problems (one run)
measures only the latter.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

# two-sided 95% quantiles of Student's t, degrees of freedom 1..30
_T95 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def t95(df: int) -> float:
    """Two-sided 95% quantile of Student's t with ``df`` degrees of freedom (normal 1.96 beyond 30).

    >>> t95(2), t95(100)
    (4.303, 1.96)
    """
    if df < 1:
        raise ValueError(f"t95 needs at least 1 degree of freedom, got {df}")
    return _T95[df - 1] if df <= len(_T95) else 1.96


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` values with the half-width of its 95% t-interval (None for a single value)."""

    mean: float
    half_width: float | None
    n: int

    @property
    def low(self) -> float | None:
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.half_width is None else self.mean + self.half_width

    def excludes_zero(self) -> bool:
        return self.half_width is not None and (self.low > 0 or self.high < 0)


def mean_interval(values: list[float]) -> Interval:
    """Mean and 95% t-interval of independent values (e.g. one metric of one arm over seeds).

    >>> i = mean_interval([0.5, 0.6, 0.7]); round(i.mean, 3), round(i.half_width, 3)
    (0.6, 0.248)
    """
    if not values:
        raise ValueError("mean_interval needs at least one value")
    n = len(values)
    if n == 1:
        return Interval(values[0], None, 1)
    return Interval(statistics.fmean(values), t95(n - 1) * statistics.stdev(values) / math.sqrt(n), n)


def paired_difference(a: dict[int, float], b: dict[int, float]) -> Interval | None:
    """Mean of ``a[s] - b[s]`` over the seeds both have, with its 95% t-interval; None when none is shared.

    A value of ``b`` keyed ``None`` stands for an arm that does not depend on the seed (e.g. the untrained base
    model) and pairs with every seed of ``a``.

    >>> d = paired_difference({0: 0.6, 1: 0.7, 2: 0.65}, {0: 0.5, 1: 0.62, 2: 0.52}); round(d.mean, 3), d.n
    (0.103, 3)
    """
    if None in b:
        diffs = [value - b[None] for value in a.values()]
    else:
        diffs = [a[s] - b[s] for s in sorted(a.keys() & b.keys())]
    return mean_interval(diffs) if diffs else None


def two_proportion_z(p1: float, n1: int, p2: float, n2: int) -> float:
    """z statistic of the difference of two proportions (pooled); |z| > 2 is about the 5% level.

    >>> round(two_proportion_z(0.6, 400, 0.5, 400), 2)
    2.84
    """
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    se = math.sqrt(max(pooled * (1 - pooled) * (1 / n1 + 1 / n2), 1e-12))
    return (p1 - p2) / se
