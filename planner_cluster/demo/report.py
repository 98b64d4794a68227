"""The report image (matplotlib, Agg): what the campaign did and what it found.

Six panels: the structural image with the measured points numbered in order; the final
model's predicted map and its uncertainty; the ground truth (where the data set has one) with
its top-1% sites; the discovery curves (best value so far, top-1% sites found) against the
random-sampling baseline, averaged over seeds. Everything is drawn from an archive, so
a report can be redrawn from any archive.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..archive import ArchiveData

__all__ = ["draw_report", "write_report"]

log = logging.getLogger(__name__)


def _grid_map(values: npt.NDArray[Any], coords: npt.NDArray[Any],
              shape: tuple[int, int]) -> npt.NDArray[np.float64]:
    out = np.full(shape, np.nan)
    out[coords[:, 0], coords[:, 1]] = values
    return out


def _aspect(shape: tuple[int, ...]) -> str:
    """Square pixels, unless the field is a long strip (EELS lines): then fill the panel."""
    h, w = shape[:2]
    return "auto" if max(h, w) > 3 * min(h, w) else "equal"


def _structure(ax: Any, a: ArchiveData, scale: int) -> None:
    image = a.image if a.image.ndim == 2 else a.image[..., 0]
    ax.imshow(image, cmap="gray", interpolation="nearest", aspect=_aspect(image.shape))
    pix = a.coords * scale + scale // 2
    seed = np.array([s == "seed" for s in a.source], dtype=bool)
    if len(pix):
        ax.scatter(pix[seed, 1], pix[seed, 0], s=18, c="#1f77b4", edgecolors="white",
                   linewidths=0.5, label="seed points")
        ax.scatter(pix[~seed, 1], pix[~seed, 0], s=18, c="#ff7f0e", edgecolors="white",
                   linewidths=0.5, label="planned points")
    size = 7 if len(pix) <= 60 else 5
    for i, (r, c) in enumerate(pix.tolist()):
        ax.annotate(str(i + 1), (c, r), xytext=(3, 3), textcoords="offset points",
                    fontsize=size, color="yellow", fontweight="bold")
    ax.set_title(f"structural image, {len(pix)} points in order")
    if len(pix):
        ax.legend(loc="lower right", fontsize=7, framealpha=0.6)


def _map(fig: Any, ax: Any, data: npt.NDArray[Any], title: str, cmap: str,
         a: ArchiveData, mark: npt.NDArray[Any] | None = None) -> None:
    im = ax.imshow(data, cmap=cmap, interpolation="nearest", aspect=_aspect(data.shape))
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if len(a.coords):
        ax.scatter(a.coords[:, 1], a.coords[:, 0], s=6, c="white", edgecolors="black",
                   linewidths=0.3)
    if mark is not None and mark.size:
        ax.scatter(mark[:, 1], mark[:, 0], s=30, facecolors="none", edgecolors="red",
                   linewidths=0.8, label="true top 1%")
        ax.legend(loc="lower right", fontsize=7, framealpha=0.6)
    ax.set_title(title)


def _blank(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def _curves(ax_best: Any, ax_top: Any, a: ArchiveData) -> None:
    if a.found is None or a.random is None or a.truth is None or not a.found.best.size:
        for ax in (ax_best, ax_top):
            _blank(ax, "no ground truth for this data set" if a.truth is None
                   else "nothing measured")
        return
    steps = np.arange(1, a.found.best.size + 1)
    rsteps = np.arange(1, a.random.best.shape[1] + 1)
    rb, rt = a.random.best, a.random.top
    ax_best.plot(steps, a.found.best, color="#d62728", lw=2, label="autopilot")
    ax_best.plot(rsteps, rb.mean(0), color="gray", lw=1.5,
                 label=f"random sampling (mean of {rb.shape[0]} seeds)")
    ax_best.fill_between(rsteps, np.percentile(rb, 25, 0), np.percentile(rb, 75, 0),
                         color="gray", alpha=0.25, label="random, 25-75%")
    ax_best.axhline(float(a.truth.max()), color="black", ls="--", lw=1, label="true maximum")
    ax_best.set_xlabel("measurements")
    ax_best.set_ylabel("best value found")
    ax_best.set_title("discovery: best value so far")
    ax_top.plot(steps, a.found.top, color="#d62728", lw=2, label="autopilot")
    ax_top.plot(rsteps, rt.mean(0), color="gray", lw=1.5, label="random sampling (mean)")
    ax_top.fill_between(rsteps, np.percentile(rt, 25, 0), np.percentile(rt, 75, 0),
                        color="gray", alpha=0.25)
    total = int(a.top.sum()) if a.top is not None else 0
    seeds = sum(1 for s in a.source if s == "seed")
    if 0 < seeds < steps.size:
        for ax in (ax_best, ax_top):
            ax.axvline(seeds + 0.5, color="#1f77b4", ls=":", lw=1.2,
                       label="end of the seed plan")
    ax_top.yaxis.get_major_locator().set_params(integer=True)
    ax_top.set_xlabel("measurements")
    ax_top.set_ylabel(f"top-1% sites found (of {total})")
    ax_top.set_title("discovery: top-1% sites found")
    for ax in (ax_best, ax_top):
        ax.legend(fontsize=7)


def draw_report(a: ArchiveData, *, title: str = "") -> Any:
    """The report figure of archive ``a`` (a matplotlib Figure; the caller closes it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cands = a.candidates
    coords = np.asarray(cands["coords"])
    shape = (int(cands["grid_shape"][0]), int(cands["grid_shape"][1]))
    scale = int(cands.get("scale", 1))
    fig, axes = plt.subplots(2, 3, figsize=(16, 9.5), dpi=100)
    try:
        _structure(axes[0, 0], a, scale)
        models = a.models
        if models is not None and len(models.version):
            v = int(models.version[-1])
            _map(fig, axes[0, 1], _grid_map(models.mean[-1], coords, shape),
                 f"predicted map (model v{v})", "viridis", a)
            _map(fig, axes[0, 2], _grid_map(np.sqrt(np.clip(models.variance[-1], 0, None)),
                                            coords, shape),
                 f"uncertainty, posterior std (v{v})", "magma", a)
        else:
            for ax in axes[0, 1:]:
                _blank(ax, "no model trained yet")
        if a.truth is not None and a.top is not None:
            _map(fig, axes[1, 0], _grid_map(a.truth, coords, shape), "ground truth",
                 "viridis", a, coords[np.asarray(a.top, dtype=bool)])
        else:
            _blank(axes[1, 0], "no ground truth for this data set")
        _curves(axes[1, 1], axes[1, 2], a)
        fig.suptitle(title or f"campaign {a.campaign_id}", fontsize=13)
        fig.tight_layout()
    except BaseException:
        plt.close(fig)
        raise
    return fig


def write_report(a: ArchiveData, path: Path, *, title: str = "") -> Path:
    """Draw the report of archive ``a`` to ``path`` (PNG, 1600 x 950)."""
    import matplotlib.pyplot as plt

    fig = draw_report(a, title=title)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
