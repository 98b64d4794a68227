"""The replay benchmark's table, computed from the measured points of every run.

Per problem and strategy, over seeds: top-1% recall at the budget (fraction of the true top-1%
sites measured), best found as a quantile of the truth, and the median cost of one model round
(fit + rank), all at equal numbers of measurements.
"""

from __future__ import annotations

from collections import defaultdict
from math import comb
from typing import Any

import numpy as np


def run_metrics(problem: dict[str, Any], run: dict[str, Any], budget: int) -> dict[str, float]:
    """Recall and best-found quantile after the first ``budget`` measurements of ``run``."""
    truth = np.array(problem["truth"], dtype=np.float64)  # None -> NaN
    top = {tuple(p) for p in problem["top"]}
    seen = {tuple(p) for p in run["measured"][:budget]}
    finite = np.sort(truth[np.isfinite(truth)])
    values = [truth[p] for p in seen if np.isfinite(truth[p])]
    best = max(values) if values else -np.inf
    return {"recall": len(seen & top) / max(len(top), 1),
            "best_q": float(np.searchsorted(finite, best, side="right") / finite.size),
            "round_s": float(np.median(run["round_s"])) if run["round_s"] else float("nan"),
            "round_cpu_s": float(np.median(run["round_cpu_s"])) if run["round_cpu_s"]
            else float("nan")}


def _stat(values: list[float], digits: int = 2) -> str:
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return f"{med:.{digits}f} [{q1:.{digits}f}-{q3:.{digits}f}]"


def _label(run: dict[str, Any]) -> str:
    return str(run["strategy"]) + (f" q={run['batch']}" if run["strategy"] == "core" else "") \
        + (f" {run['variant']}" if run.get("variant") else "")


def _collect(docs: list[dict[str, Any]]
             ) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """Each problem's description (from the first file holding it) and every run of it."""
    problems: dict[str, dict[str, Any]] = {}
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for doc in docs:
        for name, res in doc["results"].items():
            problems.setdefault(name, res)
            runs[name] += res["runs"]
    return problems, runs


def summarize(docs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{problem: {strategy: {"n", "recall", "best_q", "round_s", ...}}}`` at the largest
    budget every run of the problem reached (equal measurements)."""
    problems, runs = _collect(docs)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name, rs in runs.items():
        budget = min(len(r["measured"]) for r in rs)
        by: dict[str, list[dict[str, float]]] = defaultdict(list)
        for r in rs:
            by[_label(r)].append(run_metrics(problems[name], r, budget))
        out[name] = {"_": {"budget": budget, "description": problems[name]["description"],
                           "points": problems[name]["points"]}}
        for label, ms in by.items():
            out[name][label] = {k: [m[k] for m in ms] for k in ms[0]} | {"n": len(ms)}
    return out


def report_table(docs: list[dict[str, Any]]) -> str:
    """Markdown: one table per problem, median [interquartile range] over seeds."""
    lines: list[str] = []
    for name, table in summarize(docs).items():
        info = table.pop("_")
        gpax = table.get("gpax")
        gpax_s = np.nanmedian(gpax["round_s"]) if gpax else float("nan")
        rnd = np.median(table["random"]["recall"]) if "random" in table else float("nan")
        lines += [f"\n**{name}** ({info['budget']} measurements): {info['description']}\n",
                  "| strategy | seeds | top-1% recall | best found (quantile) | model round s "
                  "| round vs gpax |", "|---|---|---|---|---|---|"]
        for label, m in table.items():
            round_s = float(np.nanmedian(m["round_s"])) if np.isfinite(m["round_s"]).any() \
                else float("nan")
            ratio = f"{gpax_s / round_s:.0f}x cheaper" if gpax and np.isfinite(round_s) \
                and label != "gpax" else "-"
            lines.append(f"| {label} | {m['n']} | {_stat(m['recall'])} | "
                         f"{_stat(m['best_q'], 4)} | "
                         f"{'-' if not np.isfinite(round_s) else f'{round_s:.3f}'} | {ratio} |")
        if np.isfinite(rnd):
            lines.append(f"\nrandom's median recall: {rnd:.3f}")
    return "\n".join(lines)


def target_table(docs: list[dict[str, Any]], core: str = "core q=1") -> str:
    """One line per problem: the campaign defaults against gpax and random, medians over
    seeds at equal measurements, and whether each target holds (recall >= gpax and >= 3x
    random's expected recall (budget / sites), best found >= gpax, model round >= 20x cheaper
    than a gpax step in CPU seconds: wall time depends on what else the machine runs)."""
    lines = ["| problem | meas. | core recall | gpax recall (seeds) | random recall (expected) | "
             "core best q | gpax best q | round CPU s core / gpax | targets met |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, table in summarize(docs).items():
        info = table.pop("_")
        ours, gpax, rnd = table.get(core), table.get("gpax"), table.get("random")
        if ours is None:
            continue
        med = {k: float(np.median(ours[k])) for k in ("recall", "best_q")}
        expected = info["budget"] / info["points"]
        r_rand = float(np.median(rnd["recall"])) if rnd else float("nan")
        ok = [f"3x random {'yes' if med['recall'] >= 3 * expected else 'no'}"]
        g_rec = g_best = g_round = float("nan")
        if gpax:
            g_rec, g_best = float(np.median(gpax["recall"])), float(np.median(gpax["best_q"]))
            g_round = float(np.nanmedian(gpax["round_cpu_s"]))
            ok += [f"recall {'yes' if med['recall'] >= g_rec else 'no'}",
                   f"best {'yes' if med['best_q'] >= g_best else 'no'}"]
        o_round = float(np.nanmedian(ours["round_cpu_s"]))
        if gpax:
            ok.append(f"20x {'yes' if g_round >= 20 * o_round else 'no'}")
        lines.append(
            f"| {name} | {info['budget']} | {med['recall']:.2f} | "
            f"{g_rec:.2f} ({gpax['n'] if gpax else 0}) | {r_rand:.2f} ({expected:.3f}) | "
            f"{med['best_q']:.4f} | "
            f"{g_best:.4f} | {o_round:.2f} / {g_round:.1f} | {', '.join(ok)} |")
    return "\n".join(lines)


def sign_test(more: int, fewer: int) -> float:
    """Two-sided binomial sign test over the pairs that differ."""
    n, k = more + fewer, min(more, fewer)
    return min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0


def paired_table(docs: list[dict[str, Any]], a: str = "core q=1", b: str = "gpax") -> str:
    """Seed by seed (runs of one seed start from the same initial points): top-1% sites each
    of ``a`` and ``b`` found at the equal budget, and the sign test over the pairs."""
    problems, runs = _collect(docs)
    found: dict[str, dict[str, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
    for name, rs in runs.items():
        budget = min(len(r["measured"]) for r in rs)
        for r in rs:
            if _label(r) in (a, b):
                recall = run_metrics(problems[name], r, budget)["recall"]
                found[name][_label(r)][r["seed"]] = round(recall * len(problems[name]["top"]))
    lines = [f"| problem | top sites | paired seeds | {a}, sites found per seed | {b}, per seed "
             f"| {a} more / fewer / equal | sign test p |", "|---|---|---|---|---|---|---|"]
    total = [0, 0, 0]
    for name, by in found.items():
        seeds = sorted(set(by[a]) & set(by[b]))
        if not seeds:
            continue
        more = sum(by[a][s] > by[b][s] for s in seeds)
        fewer = sum(by[a][s] < by[b][s] for s in seeds)
        total = [total[0] + more, total[1] + fewer, total[2] + len(seeds) - more - fewer]
        lines.append(f"| {name} | {len(problems[name]['top'])} | {len(seeds)} | "
                     f"{' '.join(str(by[a][s]) for s in seeds)} | "
                     f"{' '.join(str(by[b][s]) for s in seeds)} | "
                     f"{more} / {fewer} / {len(seeds) - more - fewer} | "
                     f"{sign_test(more, fewer):.2f} |")
    lines.append(f"| all pairs | | {sum(total)} | | | {total[0]} / {total[1]} / {total[2]} | "
                 f"{sign_test(total[0], total[1]):.2f} |")
    return "\n".join(lines)
