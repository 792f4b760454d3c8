"""Estimation of missing or failed interval values on a (series × slot) grid (SPEC S1).

All functions are pure and vectorized. A grid row is one series (meter + channel) over
the slots of a day; ``values`` is float64 with NaN where no usable value exists. Units
are the channel's (e.g. 0.01 kWh).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from smame.registers import REGISTER_MODULUS

__all__ = ["apportion", "linear_fill", "neighbours", "profile_fill", "scale_to_registers"]

F = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
I = npt.NDArray[np.int64]  # noqa: E741


def neighbours(valid: B) -> tuple[I, I]:
    """Column of the nearest valid cell before and after each cell of each row.

    -1 when there is none before; the row length when there is none after.
    """
    cols = valid.shape[1]
    index = np.broadcast_to(np.arange(cols), valid.shape)
    before = np.maximum.accumulate(np.where(valid, index, -1), axis=1)
    prev = np.empty_like(before)
    prev[:, 0] = -1
    prev[:, 1:] = before[:, :-1]
    after = np.minimum.accumulate(np.where(valid, index, cols)[:, ::-1], axis=1)[:, ::-1]
    nxt = np.empty_like(after)
    nxt[:, -1] = cols
    nxt[:, :-1] = after[:, 1:]
    return prev, nxt


def linear_fill(values: F, missing: B, max_gap: I) -> tuple[F, B]:
    """Linear interpolation across gaps of at most ``max_gap[row]`` cells.

    A gap is filled only when a valid value exists on both sides of it. Returns the
    estimates (NaN elsewhere) and the mask of filled cells.
    """
    valid = ~np.isnan(values)
    prev, nxt = neighbours(valid)
    cols = values.shape[1]
    gap = nxt - prev - 1
    ok = missing & (prev >= 0) & (nxt < cols) & (gap <= max_gap[:, None])
    row = np.broadcast_to(np.arange(values.shape[0])[:, None], values.shape)
    v_prev = values[row, np.clip(prev, 0, cols - 1)]
    v_next = values[row, np.clip(nxt, 0, cols - 1)]
    position = np.arange(cols)[None, :] - prev
    estimate = v_prev + (v_next - v_prev) * position / np.maximum(nxt - prev, 1)
    return np.where(ok, estimate, np.nan), ok


def profile_fill(missing: B, proxy: F, fallback: F) -> F:
    """Proxy-day estimates: the slot's mean over previous days, else the series' mean."""
    chosen = np.where(np.isnan(proxy), fallback[:, None], proxy)
    return np.where(missing, np.nan_to_num(chosen, nan=0.0), np.nan)


def apportion(target: I, weights: F, group: I, groups: int) -> I:
    """Split integer ``target[g]`` over the cells of each group in proportion to ``weights``.

    Cells of a group whose weights are all zero share equally. Largest remainders make
    each group's integers add up exactly to its target.
    """
    weights = np.maximum(weights, 0.0)
    total = np.bincount(group, weights=weights, minlength=groups)
    count = np.bincount(group, minlength=groups)
    flat = total[group] <= 0
    share = np.where(flat, 1.0 / np.maximum(count[group], 1), weights / np.where(flat, 1.0,
                                                                                   total[group]))
    exact = share * target[group]
    base = np.floor(exact).astype(np.int64)
    left = target - np.bincount(group, weights=base, minlength=groups).astype(np.int64)
    remainder = exact - base
    order = np.lexsort((-remainder, group))
    sorted_group = group[order]
    starts = np.searchsorted(sorted_group, np.arange(groups))
    rank = np.arange(order.size) - starts[sorted_group]
    bonus = np.zeros(order.size, np.int64)
    bonus[order] = rank < left[sorted_group]
    return base + bonus


def scale_to_registers(
    values: F,
    estimated: B,
    off: B,
    registers: F,
) -> tuple[F, B, B]:
    """Scale estimates so each register segment's intervals sum to its register difference.

    ``values`` (rows × N slots) holds actual and estimated values; ``registers``
    (rows × N+1 boundaries, NaN where unknown) the register readings at the slot
    boundaries: slot k runs from boundary k to boundary k+1. Within a segment between
    two known registers, the estimated, not-off slots receive the register difference
    (modulo 10^8) minus the actual values, apportioned by their estimates. Returns
    the values, the mask of scaled cells, and the mask of segments that could not be
    balanced (difference smaller than the actual values, or no slot to put energy in).
    """
    rows, n = values.shape
    known = ~np.isnan(registers)
    before, after = neighbours(known)
    # Slot k's segment starts at the last known boundary <= k and ends at the first >= k+1.
    start = np.where(known[:, :n], np.arange(n)[None, :], before[:, :n])
    end = np.where(known[:, 1:], np.arange(1, n + 1)[None, :], after[:, 1:])
    inside = (start >= 0) & (end <= n)
    row = np.broadcast_to(np.arange(rows)[:, None], (rows, n))
    segment = row * (n + 1) + np.clip(start, 0, n)
    candidate = inside & estimated
    if not candidate.any():
        return values, np.zeros_like(estimated), np.zeros_like(estimated)
    seg_ids, seg_index = np.unique(segment[inside], return_inverse=True)
    groups = seg_ids.size
    flat_est = estimated[inside]
    flat_off = off[inside]
    flat_val = np.nan_to_num(values[inside])
    actual_sum = np.bincount(seg_index, weights=np.where(flat_est, 0.0, flat_val),
                             minlength=groups)
    has_estimate = np.bincount(seg_index, weights=flat_est, minlength=groups) > 0
    reg_start = registers[row[inside], np.clip(start[inside], 0, n)]
    reg_end = registers[row[inside], np.clip(end[inside], 0, n)]
    delta = np.zeros(groups)
    delta[seg_index] = np.mod(reg_end - reg_start, REGISTER_MODULUS)
    target = np.rint(delta - actual_sum).astype(np.int64)
    receivers = flat_est & ~flat_off
    can_receive = np.bincount(seg_index, weights=receivers, minlength=groups) > 0
    balanced = has_estimate & (target >= 0) & (can_receive | (target == 0))
    use = receivers & balanced[seg_index]
    scaled = values.copy()
    if use.any():
        sub_index = seg_index[use]
        share = apportion(target, flat_val[use], sub_index, groups)
        flat_values = values[inside].copy()
        flat_values[use] = share
        scaled[inside] = flat_values
    scaled_mask = np.zeros_like(estimated)
    scaled_mask[inside] = use
    unbalanced = np.zeros_like(estimated)
    unbalanced[inside] = flat_est & ~balanced[seg_index]
    return scaled, scaled_mask, unbalanced
