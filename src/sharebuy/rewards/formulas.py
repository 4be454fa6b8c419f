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


def exact_sum(values: npt.NDArray) -> int:
    """Σ values as a Python int: int64 arithmetic when no partial sum can overflow, else Python ints."""
    v = np.asarray(values)
    if len(v) == 0:
        return 0
    largest = max(int(v.max()), -int(v.min()))
    return int(v.sum()) if largest * len(v) <= _INT64_MAX else int(v.astype(object).sum())


def split_airdrop(airdrop: int, share_value: npt.NDArray, ids: npt.NDArray) -> IntArray:
    """Points per holder (units of 0.0001): A × SV_i / S truncated, leftovers by largest remainder.

    The k units left after truncation go one each to the k holders with the largest truncated
    remainders; ties go to the lower id.  Holders must have SV_i > 0.
    """
    return split_airdrop_counting_leftover(airdrop, share_value, ids)[0]


def split_airdrop_counting_leftover(
    airdrop: int, share_value: npt.NDArray, ids: npt.NDArray
) -> tuple[IntArray, int]:
    """`split_airdrop` and k, the units handed out by largest remainder (the settlement records it)."""
    n = len(share_value)
    if n == 0 or airdrop == 0:
        return np.zeros(n, dtype=np.int64), 0
    sv = np.asarray(share_value)
    if (sv <= 0).any():
        raise ValueError("every holder must have positive share value")
    max_sv = int(sv.max())
    total = exact_sum(sv)
    work = _exact(sv, max(airdrop * max_sv, total))
    product = work * airdrop
    points = product // total
    remainder = product % total
    leftover = airdrop - exact_sum(points)
    if leftover:
        points[_largest_remainders(remainder, np.asarray(ids), leftover)] += 1
    return np.asarray(points, dtype=np.int64), leftover


def share_value_consumed(points: npt.NDArray, share_value: npt.NDArray, price: int) -> IntArray:
    """min(SV_i, p_i × P_D half-up to 0.01), in share value units."""
    p = np.asarray(points)
    bound = int(p.max()) * price + _POINT_PRICE_TO_SV if len(p) else 0
    value = (_exact(p, bound) * price + _POINT_PRICE_TO_SV // 2) // _POINT_PRICE_TO_SV
    return np.minimum(np.asarray(value, dtype=np.int64), np.asarray(share_value, dtype=np.int64))


def take_back(amount: npt.NDArray, balance: npt.NDArray) -> tuple[IntArray, IntArray]:
    """Vectorised `domain.take_back`: each debit split into (taken from the balance, added to
    clawback owed)."""
    amount = np.asarray(amount, dtype=np.int64)
    taken = np.minimum(amount, np.asarray(balance, dtype=np.int64))
    return taken, amount - taken


def _largest_remainders(remainder: npt.NDArray, ids: npt.NDArray, k: int) -> npt.NDArray:
    """Indices of the k largest remainders, ties to the lower id."""
    if remainder.dtype == object:
        ranked = sorted(range(len(remainder)), key=lambda i: (-remainder[i], int(ids[i])))
        return np.asarray(ranked[:k], dtype=np.int64)
    # lexsort's last key is primary: remainder descending, then id ascending.
    return np.lexsort((ids, -remainder))[:k]


# -- Vectorised twins for the economy simulator (SPEC §3, §6, §9) --------------------------------
# Each mirrors one scalar formula of rewards/domain.py or market/domain.py unit for unit, on
# integer unit arrays (amounts in 0.01 CNY, rates and multipliers in 0.0001, prices in 0.0001
# CNY, points in 0.0001); tests/unit/test_simulation_formulas.py holds each twin to its scalar
# original with Hypothesis.  Inputs are non-negative, so floor division rounds as stated.

_RATE_SCALE = 10**4  # rates, multipliers, prices and points all count units of 0.0001


def purchase_share_value(amount: npt.NDArray, rate: npt.NDArray, multiplier: int) -> IntArray:
    """`domain.consumer_share_value` / `merchant_share_value`: M × r × k, half-up to 0.01 SV.

    amount in 0.01 CNY, rate and multiplier in 0.0001: the product counts 1e-10 CNY.
    """
    a, r = np.asarray(amount), np.asarray(rate)
    if len(a) == 0:
        return np.zeros(0, dtype=np.int64)
    scale = _RATE_SCALE * _RATE_SCALE
    bound = int(a.max()) * int(r.max()) * multiplier + scale
    value = (_exact(a, bound) * _exact(r, bound) * multiplier + scale // 2) // scale
    return np.asarray(value, dtype=np.int64)


def concession_points_units(amount: npt.NDArray, rate: npt.NDArray, price: int) -> IntArray:
    """`domain.concession_points`: M × r / P rounded up to 0.0001 points (never undercharging).

    amount 0.01 CNY × rate 0.0001 = 1e-6 CNY; ÷ price (1e-4 CNY per point) = 1e-2 points; × 100
    gives points units, rounded up by a ceiling division.
    """
    a, r = np.asarray(amount), np.asarray(rate)
    if len(a) == 0:
        return np.zeros(0, dtype=np.int64)
    bound = int(a.max()) * int(r.max()) * 100
    owed = -((-(_exact(a, bound) * _exact(r, bound) * 100)) // price)
    return np.asarray(owed, dtype=np.int64)


def trade_amount_units(quantity: npt.NDArray, price: int) -> IntArray:
    """`market.domain.trade_amount`: quantity × price, half-up to 0.01 CNY (1e-8 → 1e-2)."""
    q = np.asarray(quantity)
    if len(q) == 0:
        return np.zeros(0, dtype=np.int64)
    bound = int(q.max()) * price + _POINT_PRICE_TO_SV
    value = (_exact(q, bound) * price + _POINT_PRICE_TO_SV // 2) // _POINT_PRICE_TO_SV
    return np.asarray(value, dtype=np.int64)


def trade_fee_units(quantity: npt.NDArray, rate: int) -> IntArray:
    """`market.domain.trade_fee`: quantity × fee rate, half-up to 0.0001 points."""
    q = np.asarray(quantity, dtype=np.int64)
    if rate == 0 or len(q) == 0:
        return np.zeros(len(q), dtype=np.int64)
    bound = int(q.max()) * rate + _RATE_SCALE
    value = (_exact(q, bound) * rate + _RATE_SCALE // 2) // _RATE_SCALE
    return np.asarray(value, dtype=np.int64)


def split_airdrop_linear(airdrop: int, share_value: npt.NDArray, ids: npt.NDArray) -> IntArray:
    """`split_airdrop` in linear time: the very same points, unit for unit.

    The k leftover units still go to the k largest remainders, ties to the lower id, but the k-th
    largest remainder is found by a partition instead of a full sort: a million holders take a
    few tens of milliseconds instead of a few hundred.  Entries with zero share value may stay
    in: they receive nothing, exactly as if they were left out (their remainder is 0, and more
    than k holders have a positive remainder since the remainders add up to k × S).
    """
    n = len(share_value)
    if n == 0 or airdrop == 0:
        return np.zeros(n, dtype=np.int64)
    sv = np.asarray(share_value)
    if (sv < 0).any():
        raise ValueError("share value cannot be negative")
    total = exact_sum(sv)
    if total == 0:
        raise ValueError("no holder has share value")
    if airdrop * int(sv.max()) > _INT64_MAX and total < 2**62 and airdrop < 2**50:
        points, remainder = _share_floor(sv.astype(np.int64), airdrop, total)
    else:
        work = _exact(sv, max(airdrop * int(sv.max()), total))
        product = work * airdrop
        points = product // total
        remainder = product % total
    leftover = airdrop - exact_sum(points)
    if leftover:
        if remainder.dtype == object:
            chosen = _largest_remainders(remainder, np.asarray(ids), leftover)
        else:
            chosen = _largest_remainders_linear(remainder, np.asarray(ids), leftover)
        points[chosen] += 1
    return np.asarray(points, dtype=np.int64)


def _largest_remainders_linear(remainder: npt.NDArray, ids: npt.NDArray, k: int) -> npt.NDArray:
    """The same set as `_largest_remainders` (k > 0): all above the k-th largest remainder, then
    the lowest ids among those equal to it.

    Only positive remainders can be chosen: they add up to k × S and each is below S, so more
    than k of them are positive.  Partitioning just those also keeps the partition fast when
    most entries are zero.
    """
    candidates = np.flatnonzero(remainder > 0)
    values = remainder[candidates]
    m = len(candidates)
    threshold = np.partition(values, m - k)[m - k]
    above = candidates[values > threshold]
    tied = candidates[values == threshold]
    need = k - len(above)
    if need < len(tied):
        tied = tied[np.argpartition(ids[tied], need - 1)[:need]]
    return np.concatenate([above, tied])


def _share_floor(share_value: IntArray, airdrop: int, total: int) -> tuple[IntArray, IntArray]:
    """(A × SV_i) // S and (A × SV_i) % S exactly in int64, although A × SV_i may pass 2**63.

    A float64 estimate of the quotient is off by at most one while A < 2**50; the remainder for
    that estimate, computed in wrapping 64-bit arithmetic, lies in (-S, 2S) and so is exact while
    S < 2**62; one correction step then gives the true quotient and remainder.
    """
    quotient = np.floor(share_value.astype(np.float64) * (airdrop / total)).astype(np.int64)
    with np.errstate(over="ignore"):
        remainder = share_value * np.int64(airdrop) - quotient * np.int64(total)
    low = remainder < 0
    quotient[low] -= 1
    remainder[low] += total
    high = remainder >= total
    quotient[high] += 1
    remainder[high] -= total
    return quotient, remainder
