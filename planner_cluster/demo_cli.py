"""``autopilot demo`` and ``autopilot replay``.

``demo`` runs a whole autonomous campaign on this machine (embedded Redis, local Ray, the
planner, an edge agent replaying real data) and writes the results to a run folder;
``replay`` recomputes an archive's decisions and says whether they reproduce (exit 0) or
not (exit 1).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from autopilot_cli.app import fail, new_app, run_app, sigterm_as_ctrl_c
from autopilot_cli.exit_codes import ExitCode

from .campaign import CampaignSettings
from .cli import PLANNER_ERRORS, quiet_ray_notices
from .config import ConfigError, load_config

if TYPE_CHECKING:
    from .demo.results import DemoResults
    from .demo.run import Collected

demo_app = new_app("Run an autonomous campaign end to end on this machine.")
replay_app = new_app("Recompute an archive's decisions.")

INTERRUPTED = ExitCode.INTERRUPTED


def _log_to(path: Path, level: str) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


def _print_results(console: Console, results: DemoResults, collected: Collected) -> None:
    from .demo.display import checks_table, summary_table

    console.print(summary_table(results.rows, f"campaign {collected.campaign_id}: "
                                              f"{collected.status}"))
    console.print(checks_table(results.checks, "provenance: live decisions vs recomputation"))
    console.print(f"archive  {results.archive_path}\nreport   {results.report_path}\n"
                  f"replay   autopilot replay {results.archive_path}")


@demo_app.command()
def demo(
    dataset: Annotated[str, typer.Option(help="beps | eels | sts | sim (procedural)")] = "beps",
    steps: Annotated[int, typer.Option(min=1, help="measurements (the point budget)")] = 40,
    batch: Annotated[int, typer.Option(
        min=1, help="measurements per model update")] = CampaignSettings().batch,
    acquisition: Annotated[str, typer.Option(help="ei | ucb | pi | max_variance | thompson")]
    = "ei",
    scalarizer: Annotated[str | None, typer.Option(help="default: the data set's")] = None,
    dwell: Annotated[float, typer.Option(min=0.0, help="seconds per spectrum")] = 0.1,
    out: Annotated[Path | None, typer.Option(help="run folder (default runs/demo-TIME)")]
    = None,
    seed: Annotated[int, typer.Option(help="model, acquisition and sample seed")] = 0,
    config_file: Annotated[str | None, typer.Option("--config", help="planner TOML")] = None,
    log_level: Annotated[str, typer.Option(help="level of RUN/demo.log")] = "INFO",
    wait: Annotated[bool | None, typer.Option(
        "--wait/--no-wait", help="after the results, keep the dashboard up until Ctrl-C "
        "(default: when run from a terminal)")] = None,
) -> None:
    """Run a whole campaign on this machine and write its archive, report and summary.

    Starts Redis, Ray, the planner, the dashboard if installed and an edge agent on the
    replay microscope; runs a campaign to its budget; writes the results; then keeps the
    dashboard up until Ctrl-C (from a terminal, or with --wait). Ctrl-C or SIGTERM at any
    time stops everything it started."""
    from .campaign.schema import validate_config
    from .demo.presets import PRESETS, campaign_config
    from .demo.results import build_results
    from .demo.run import DemoError, DemoOptions, DemoRun

    console = Console()
    if dataset not in PRESETS:
        fail(f"unknown data set {dataset!r}; choose from {', '.join(PRESETS)}")
    run_dir = out or Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    try:  # the settings the planner would refuse, refused before anything starts
        validate_config(campaign_config(PRESETS[dataset], scalarizer=scalarizer,
                                        acquisition=acquisition, batch=batch, seed=seed))
        planner = load_config(config_file)
    except ConfigError as exc:
        fail(str(exc))
    options = DemoOptions(out=run_dir, dataset=dataset, steps=steps, batch=batch,
                          acquisition=acquisition, scalarizer=scalarizer, dwell_s=dwell,
                          seed=seed)
    handler = _log_to(run_dir / "demo.log", log_level)
    quiet_ray_notices()
    # The planner runs Ray in a thread of this process, where Ray's crash handler would take
    # SIGTERM (and end the process at once, leaving the edge and the dashboard running) from
    # sigterm_as_ctrl_c, which stops them.
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
    started = time.monotonic()
    preset = PRESETS[dataset]
    console.print(f"[bold]autopilot demo[/]: {preset.description}\n  {steps} measurements, "
                  f"batch {batch}, {acquisition}, scalarizer "
                  f"{scalarizer or preset.scalarizer}, dwell {dwell:g} s, seed {seed}\n"
                  f"  results in {run_dir}/ (log: {run_dir}/demo.log)")
    hold = sys.stdin.isatty() if wait is None else wait
    try:
        with sigterm_as_ctrl_c(), DemoRun(options, planner, console) as runner:
            collected = runner.run()
            if collected.image is None:
                console.print("[red]no scan reached the planner; nothing to archive[/]")
                raise typer.Exit(INTERRUPTED if collected.interrupted else 1)
            versions = collected.watch.metrics.model_version
            console.print(f"writing the results to {run_dir}/: recomputing {versions} model "
                          "versions, then the archive and the report ...")
            with console.status("recomputing every model version for the archive ...") as status:
                results = build_results(
                    collected, options, {"ray_num_cpus": runner.config.ray_num_cpus,
                                         "ray_memory_mb": runner.config.ray_memory_mb},
                    run_dir, started, on_version=lambda v: status.update(
                        f"recomputing model v{v.version} of {versions} ..."))
            _print_results(console, results, collected)
            if hold and not collected.interrupted:
                runner.hold_dashboard()
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; everything started was stopped[/]")
        raise typer.Exit(INTERRUPTED) from None
    except DemoError as exc:
        fail(str(exc), ExitCode.FAILED)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    if collected.dashboard and not hold:
        console.print(f"dashboard was at {collected.dashboard} (stopped with the demo; "
                      "--wait keeps it up)")
    if collected.interrupted:
        raise typer.Exit(INTERRUPTED)
    if collected.edge_code != 0 or collected.status != "finished":
        console.print(f"[red]the campaign ended {collected.status} (edge exit code "
                      f"{collected.edge_code}); see {run_dir}/edge.log[/]")
        raise typer.Exit(1)


@replay_app.command()
def replay(
    archive: Annotated[Path, typer.Argument(
        help="campaign archive: campaign.h5 of autopilot demo, or autopilot campaigns export")],
) -> None:
    """Recompute every decision in ARCHIVE; exit 0 if they all reproduce, 1 if not.

    Runs on the CPU with one torch thread, the archived seeds and config."""
    from .archive import read_archive
    from .demo.display import checks_table
    from .demo.provenance import check_archive
    from .demo.recompute import software_versions

    console = Console()
    if not archive.is_file():
        fail(f"cannot read {archive}: no such file")
    try:
        data = read_archive(archive)
    except (OSError, ValueError, KeyError) as exc:
        fail(f"cannot read {archive}: {exc}")
    versions = len(data.schedule["version"])
    console.print(f"campaign {data.campaign_id} ({data.dataset}): {len(data.coords)} "
                  f"measurements, {versions} plans, {len(data.recorded_plans)} captured live")
    recorded, now = data.planner.get("software", {}), software_versions()
    changed = [f"{k} {recorded[k]} -> {now[k]}" for k in now
               if k in recorded and recorded[k] != now[k]]
    if changed:
        console.print(f"[yellow]note: recorded with other versions ({', '.join(changed)}); "
                      "small numeric differences may follow[/]")
    device = str(data.planner.get("device", "cpu"))
    if device != "cpu":
        console.print(f"[yellow]note: the campaign trained on {device}; the recomputation runs "
                      "on the CPU, so near-ties may rank differently[/]")
    if not data.settings:
        console.print("[yellow]note: no resolved settings in the archive; using the current "
                      "code's defaults[/]")
    started = time.monotonic()
    with console.status("recomputing ...") as status:
        ok, checks, _ = check_archive(
            data, on_version=lambda v: status.update(f"recomputing model v{v.version} ..."))
    console.print(checks_table(checks, f"replay of {archive} "
                                       f"({time.monotonic() - started:.1f} s)"))
    if ok:
        console.print("[green]all decisions reproduce[/]")
        return
    console.print("[red]some decisions do not reproduce[/]")
    raise typer.Exit(1)


def demo_main(argv: list[str] | None = None) -> int:
    return run_app(demo_app, "demo", argv, PLANNER_ERRORS)


def replay_main(argv: list[str] | None = None) -> int:
    return run_app(replay_app, "replay", argv, PLANNER_ERRORS)
