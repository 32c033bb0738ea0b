"""Is a lattice real? Explained peaks against what chance would explain.

A fixed fraction rejects correct lattices on rich frames (1500 thaumatin peaks, 45 % explained)
and says nothing about sparse ones. The question is how unlikely it is that a lattice in a
random orientation explains k of the n peaks. A peak is explained when a lattice point lies in
its acceptance region: a disc of radius `tol_perp` across its ray, `max_excitation` either side
along it. Lattice points fill reciprocal space at a density of V (the real cell's volume, Å³),
so chance explains a peak with probability p = 1 − exp(−2π·tol_perp²·max_excitation·V), and the
count of explained peaks among n is binomial. The significance is −log₁₀ P(X ≥ k); the search
tries of order 10⁶–10⁹ orientations, so a lattice needs a significance well above 9 to be real.
"""

from __future__ import annotations

import math

from scipy.special import betainc


def chance_probability(tol_perp: float, max_excitation: float, volume_a3: float) -> float:
    """Probability that a random peak falls inside some lattice point's acceptance region."""
    mean = 2.0 * math.pi * tol_perp * tol_perp * max_excitation * volume_a3
    return -math.expm1(-mean)


def significance(k: int, n: int, p: float) -> float:
    """−log₁₀ P(X ≥ k) for X ~ Binomial(n, p): how surprising k explained peaks are by chance."""
    if k <= 0 or n <= 0:
        return 0.0
    if k > n:
        return math.inf
    if p <= 0.0:
        return math.inf
    if p >= 1.0:
        return 0.0
    tail = float(betainc(k, n - k + 1, p))  # P(X ≥ k) = I_p(k, n − k + 1)
    if tail > 0.0:
        return -math.log10(tail)
    # Underflow: the leading term C(n, k) p^k (1 − p)^(n−k) bounds the tail from below.
    log_term = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(p) + (n - k) * math.log1p(-p)
    return -log_term / math.log(10.0)


def min_explained(n: int, p: float, min_significance: float, floor: int = 1) -> int:
    """Smallest k ≥ floor with significance(k, n, p) ≥ min_significance (n + 1 when none)."""
    lo, hi = max(1, floor), n
    if lo > n or significance(n, n, p) < min_significance:
        return n + 1
    while lo < hi:
        mid = (lo + hi) // 2
        if significance(mid, n, p) >= min_significance:
            hi = mid
        else:
            lo = mid + 1
    return lo
