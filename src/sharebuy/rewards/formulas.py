"""Vectorised release formulas (SPEC §4) shared by the settlement and the simulator.

Inputs are integer unit arrays (numpy int64 or Python-int object arrays when products could
overflow 64 bits); no float is ever involved.  Invariant: Σ split_airdrop(A, sv) == A exactly.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
_INT64_MAX = np.iinfo(np.int64).max

# points units (1e-4) × price units (1e-4) = 1e-8 CNY; share value units are 1e-2.
_POINT_PRICE_TO_SV = 10**6


def _exact(values: npt.NDArray, bound: int) -> npt.NDArray:
    """Keep int64 when every intermediate stays below 2**63, else fall back to Python ints."""
    if bound <= _INT64_MAX:
        return values.astype(np.int64, copy=False)
    return values.astype(object)


def split_airdrop(airdrop: int, share_value: npt.NDArray, ids: npt.NDArray) -> IntArray:
    """Points per holder (units of 0.0001): A × SV_i / S truncated, leftovers by largest remainder.

    The k units left after truncation go one each to the k holders with the largest truncated
    remainders; ties go to the lower id.  Holders must have SV_i > 0.
    """
    n = len(share_value)
    if n == 0 or airdrop == 0:
        return np.zeros(n, dtype=np.int64)
    sv = np.asarray(share_value)
    if (sv <= 0).any():
        raise ValueError("every holder must have positive share value")
    max_sv = int(sv.max())
    total = int(sv.astype(object).sum()) if max_sv * n > _INT64_MAX else int(sv.sum())
    work = _exact(sv, max(airdrop * max_sv, total))
    product = work * airdrop
    points = product // total
    remainder = product % total
    leftover = airdrop - int(points.sum())
    if leftover:
        points[_largest_remainders(remainder, np.asarray(ids), leftover)] += 1
    return np.asarray(points, dtype=np.int64)


def share_value_consumed(points: npt.NDArray, share_value: npt.NDArray, price: int) -> IntArray:
    """min(SV_i, p_i × P_D half-up to 0.01), in share value units."""
    p = np.asarray(points)
    bound = int(p.max()) * price + _POINT_PRICE_TO_SV if len(p) else 0
    value = (_exact(p, bound) * price + _POINT_PRICE_TO_SV // 2) // _POINT_PRICE_TO_SV
    return np.minimum(np.asarray(value, dtype=np.int64), np.asarray(share_value, dtype=np.int64))


def _largest_remainders(remainder: npt.NDArray, ids: npt.NDArray, k: int) -> npt.NDArray:
    """Indices of the k largest remainders, ties to the lower id."""
    if remainder.dtype == object:
        ranked = sorted(range(len(remainder)), key=lambda i: (-remainder[i], int(ids[i])))
        return np.asarray(ranked[:k], dtype=np.int64)
    # lexsort's last key is primary: remainder descending, then id ascending.
    return np.lexsort((ids, -remainder))[:k]
