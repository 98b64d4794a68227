"""What the discovery curve is compared with: what a scan without a model would have found.

With a ground truth (a replayed field of view: every spectrum, stored by whoever started the
campaign) the baselines are exact: the expected best of ``n`` points drawn at random without
replacement, and the best of the first ``n`` points of a raster (row by row). Without one, the
seed points stand in for the field of view: their best value, and the expected best of ``n``
random draws from their values (with replacement; it cannot exceed their best, which is why
the page says what it is estimated from).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import PlannerError
from ..scalarizers import scalarize
from ..state import CampaignRecord, StateStore
from .views import finite, measurements_view, scalarizer_name

__all__ = ["baseline_view", "expected_best_bootstrap", "expected_best_without_replacement"]

FloatArray = NDArray[np.float64]


def expected_best_without_replacement(values: FloatArray, steps: int) -> FloatArray:
    """E[max of n draws without replacement] for n = 1..steps (at most ``values.size``).

    The k-th smallest of N values is the maximum of n draws with probability
    C(k-1, n-1) / C(N, n); summed in logs so that N in the thousands stays exact enough.
    """
    v = np.sort(np.asarray(values, dtype=np.float64))
    size = v.size
    steps = min(steps, size)
    log_fact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, size + 1)))])

    def log_choose(a: NDArray[np.int64] | int, b: int) -> Any:
        return log_fact[a] - log_fact[b] - log_fact[np.subtract(a, b)]

    k = np.arange(1, size + 1)
    out = np.empty(steps)
    for n in range(1, steps + 1):
        top = k[n - 1:]
        weights = np.exp(log_choose(top - 1, n - 1) - log_choose(size, n))
        out[n - 1] = float(np.sum(weights * v[n - 1:]))
    return out


def expected_best_bootstrap(values: FloatArray, steps: int) -> FloatArray:
    """E[max of n draws with replacement from ``values``] for n = 1..steps."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    cdf = np.arange(0, v.size + 1, dtype=np.float64) / v.size
    n = np.arange(1, steps + 1, dtype=np.float64)[:, None]
    weights = cdf[1:][None, :] ** n - cdf[:-1][None, :] ** n  # P(max is the k-th smallest)
    return np.asarray(weights @ v, dtype=np.float64)


def _truth_scores(record: CampaignRecord, truth: NDArray[Any],
                  axis: NDArray[Any] | None) -> FloatArray | None:
    spectra = np.asarray(truth, dtype=np.float64)
    flat = spectra.reshape(-1, spectra.shape[-1])
    if axis is None or axis.size != flat.shape[1]:
        axis = np.arange(flat.shape[1], dtype=np.float64)
    scal = record.config.get("scalarizer") or {}
    params = dict(scal.get("params", {}) or {}) if isinstance(scal, dict) else {}
    try:
        return np.asarray(scalarize(scalarizer_name(record), flat, np.asarray(axis).ravel(),
                                    **params), dtype=np.float64)
    except PlannerError:
        return None


def _curves(values: FloatArray, steps: int, maximize: bool,
            raster: bool) -> dict[str, list[Any]]:
    sign = 1.0 if maximize else -1.0
    good = values[np.isfinite(values)] * sign
    if raster:
        ordered = np.where(np.isfinite(values), values * sign, -np.inf)[:steps]
        return {"random": finite(sign * expected_best_without_replacement(good, steps)),
                "raster": finite(sign * np.maximum.accumulate(ordered))}
    return {"random": finite(sign * expected_best_bootstrap(good, steps))}


def baseline_view(store: StateStore, record: CampaignRecord) -> dict[str, Any]:
    """The baselines for ``n = 1..steps`` (steps: the point budget, or what is measured so
    far plus a plan's worth). ``kind`` says what they come from: ``truth``, ``seed``, or
    ``none`` (no seed point scored yet)."""
    cid = record.campaign_id
    measured = measurements_view(store, record)
    budget = (record.config.get("budget") or {}).get("points")
    steps = int(budget) if isinstance(budget, int) and budget > 0 else record.n_measured + 16
    steps = max(1, min(steps, 10_000))
    out: dict[str, Any] = {"scalarizer": measured["scalarizer"],
                           "maximize": measured["maximize"], "kind": "none", "steps": steps}
    truth = store.ground_truth(cid)
    scores = _truth_scores(record, truth, store.spectral_axis(cid)) if truth is not None else None
    if scores is not None and np.isfinite(scores).any():
        best = np.nanmax(scores) if measured["maximize"] else np.nanmin(scores)
        return {**out, "kind": "truth", "n_truth": int(scores.size),
                "true_best": float(best), **_curves(scores, steps, measured["maximize"], True)}
    seeds = np.array([m["value"] for m in measured["measurements"]
                      if m["source"] == "seed" and m["value"] is not None], dtype=np.float64)
    if seeds.size == 0:
        return out
    best = seeds.max() if measured["maximize"] else seeds.min()
    return {**out, "kind": "seed", "n_seed": int(seeds.size),
            "seed_best": None if not math.isfinite(best) else float(best),
            **_curves(seeds, steps, measured["maximize"], False)}
