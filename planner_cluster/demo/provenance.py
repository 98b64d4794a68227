"""Provenance: recompute an archive's decisions and say whether they reproduce.

Checks, each a row of the replay table:

* the seed plan, and every plan the live actor wrote and the demo captured: same points in
  the same order, scores equal within float32 storage precision;
* every captured live prediction (mean, variance at every candidate) within tolerance;
* every measured point is in the plan it was taken from (seed points in the seed plan);
* the training loss of every version (from the actor's plan events) within tolerance;
* the archive's own per-version maps (written by the demo) equal to the recomputation.

Operator controls the planner applied (vetoes, acquisition, exploration and scalarizer
changes) are applied again before the plan they took effect at (``ArchiveData.controls``), so
a steered campaign reproduces as well as an unsteered one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..archive import ArchiveData
from .recompute import Recomputation, VersionResult, recompute, settings_from_record

__all__ = ["Check", "check_archive", "compare", "recompute_archive"]

log = logging.getLogger(__name__)

RTOL = 1e-4  # values were stored as float32 (7 digits); the recomputation is float64


@dataclass(frozen=True)
class Check:
    """One verdict: ``name`` (what), ``ok``, ``detail`` (numbers, or what differs)."""

    name: str
    ok: bool
    detail: str


def _close(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[bool, float]:
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.shape != y.shape:
        return False, float("inf")
    scale = max(float(np.abs(y).max(initial=0.0)), 1e-300)
    err = float(np.abs(x - y).max(initial=0.0))
    return err <= RTOL * scale, err / scale


def recompute_archive(a: ArchiveData,
                      on_version: Callable[[VersionResult], None] | None = None
                      ) -> Recomputation:
    """Run :func:`~planner_cluster.demo.recompute.recompute` on an archive's inputs."""
    s = a.schedule
    observed = s.get("n_observed", s["n_train"])  # archives before n_observed: n_train
    schedule = [(int(v), int(n)) for v, n in zip(s["version"], observed, strict=True)]
    settings = settings_from_record(a.settings) if a.settings else None
    return recompute(a.config, a.image, a.axis, a.coords, a.spectra, schedule,
                     vetoed=a.vetoed, controls=a.controls, on_version=on_version,
                     settings=settings)


def _ranges(versions: list[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``"v1-v3, v5"``."""
    parts: list[tuple[int, int]] = []
    for v in sorted(versions):
        if parts and parts[-1][1] == v - 1:
            parts[-1] = (parts[-1][0], v)
        else:
            parts.append((v, v))
    return ", ".join(f"v{a}" if a == b else f"v{a}-v{b}" for a, b in parts)


def _summary(name: str, rows: list[tuple[int, bool, float, str]], what: str) -> Check:
    """One check for many versions: ``rows`` of (version, ok, relative error, detail)."""
    bad = [f"v{v}: {detail}" for v, ok, _, detail in rows if not ok]
    worst = max((err for _, ok, err, _ in rows if ok), default=0.0)
    versions = _ranges([v for v, _, _, _ in rows])
    if bad:
        return Check(name, False, f"{len(rows) - len(bad)}/{len(rows)} match; "
                                  + "; ".join(bad[:3]))
    return Check(name, True, f"{len(rows)}/{len(rows)} {what} ({versions}), "
                             f"rel. err <= {worst:.1e}")


def compare(a: ArchiveData, r: Recomputation) -> list[Check]:
    """The checks of the module doc, comparing archive ``a`` with recomputation ``r``."""
    checks: list[Check] = []
    by_version = {v.version: v for v in r.versions}
    plans: list[tuple[int, bool, float, str]] = []
    for version, (points, scores) in sorted(a.recorded_plans.items()):
        live = np.asarray(points).reshape(-1, 2)
        made = r.plans_of(version)  # the live plan must be one of them
        # a version is re-ranked as measurements arrive: the same points can come with other
        # scores (the best value moved), so the live plan is compared with its closest twin
        same = [p for p in made if np.array_equal(live, p[0])]
        match = min(same, key=lambda p: _close(scores, p[1])[1]) if same else None
        if version == 0:
            checks.append(Check("seed plan", match is not None, f"{len(live)} points"
                                if match is not None else f"live {live.tolist()} vs "
                                f"{[p[0].tolist() for p in made][:2]}"))
            continue
        if not made:
            plans.append((version, False, 0.0, "not recomputed"))
            continue
        ok, err = _close(scores, match[1]) if match is not None else (False, float("nan"))
        plans.append((version, ok, err, "scores differ" if match is not None else
                      f"points {live[:4].tolist()}... vs {made[0][0][:4].tolist()}..."))
    if plans:
        checks.append(_summary("live plans", plans, "identical"))
    preds: list[tuple[int, bool, float, str]] = []
    for version, (mean, var) in sorted(a.recorded_predictions.items()):
        v = by_version.get(version)
        if v is None:
            preds.append((version, False, 0.0, "not recomputed"))
            continue
        ok_m, err_m = _close(mean, v.mean)
        ok_v, err_v = _close(var, v.variance)
        preds.append((version, ok_m and ok_v, max(err_m, err_v),
                      f"mean rel. err {err_m:.1e}, variance {err_v:.1e}"))
    if preds:
        checks.append(_summary("live predictions", preds, "within float32"))
    checks.append(_choices(a, r))
    checks.append(_losses(a, by_version))
    if a.models is not None:
        ok = (a.models.version.tolist() == [v.version for v in r.versions]
              and all(_close(a.models.mean[i], v.mean)[0] and _close(a.models.variance[i],
                                                                     v.variance)[0]
                      for i, v in enumerate(r.versions)))
        checks.append(Check("archived maps", ok, f"{len(r.versions)} versions"))
    return checks


def _choices(a: ArchiveData, r: Recomputation) -> Check:
    """Each measured point must be in the plan its ``plan_version`` names."""
    inside = 0
    missing: list[str] = []
    for i, ((row, col), version) in enumerate(zip(a.coords.tolist(), a.plan_version.tolist(),
                                                  strict=True)):
        if a.source[i] == "manual":
            continue
        plans = r.plans_of(version)
        if any([row, col] in p.tolist() for p, _ in plans):
            inside += 1
        else:
            missing.append(f"#{i + 1} ({row}, {col}) v{version}")
    total = inside + len(missing)
    detail = f"{inside}/{total} in their plan" + (f"; not: {', '.join(missing[:5])}"
                                                  if missing else "")
    return Check("chosen points", not missing, detail)


def _losses(a: ArchiveData, by_version: dict[int, VersionResult]) -> Check:
    s = a.schedule
    rows = [(int(v), float(loss)) for v, loss in zip(s["version"], s["loss"], strict=True)
            if v > 0 and np.isfinite(loss)]
    bad = [f"v{v}" for v, loss in rows
           if v not in by_version or not np.isclose(loss, by_version[v].loss, rtol=1e-6,
                                                    atol=1e-9)]
    return Check("training loss", not bad, f"{len(rows) - len(bad)}/{len(rows)} versions match"
                 + (f"; differ: {', '.join(bad[:5])}" if bad else ""))


def check_archive(a: ArchiveData,
                  on_version: Callable[[VersionResult], None] | None = None
                  ) -> tuple[bool, list[Check], Recomputation]:
    """Recompute and compare; ``ok`` when every check passes."""
    r = recompute_archive(a, on_version)
    checks = compare(a, r)
    return all(c.ok for c in checks), checks, r
