"""``autopilot edge`` commands besides ``run``: control a running agent, inspect its spool,
list drivers, export replay data, serve a twin (registered on the app in edge_agent/cli.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from autopilot_cli.app import fail, setup_logging
from autopilot_cli.exit_codes import ExitCode
from edge_agent.errors import ConfigError

DataDirOpt = Annotated[Path | None, typer.Option(
    "--data-dir", help="where the built-in data sets' source files are (default: "
    "AUTOPILOT_DATA, else the workspace's shared/data)")]
SpoolOpt = Annotated[Path, typer.Option("--spool", help="the agent's spool folder")]


def ctl(
    words: Annotated[list[str], typer.Argument(
        metavar="COMMAND", help="pause | resume | stop | abort | veto R C | "
        "veto-region R0 C0 R1 C1 | add-point R C")],
    spool: SpoolOpt,
    user: Annotated[str, typer.Option(help="who asks (logged with the command)")]
    = "operator",
    timeout: Annotated[float, typer.Option(help="seconds to wait for the agent's answer")]
    = 10.0,
) -> None:
    """Control the agent running on a spool folder; exit 1 if it refuses."""
    from edge_agent.control import ControlClient, parse_command

    action, cargs = parse_command(words)  # a ControlError: a usage error, exit 2
    client = ControlClient(spool)
    try:
        request_id = client.submit(action, cargs, user)
        status, detail = client.wait(request_id, timeout)
    finally:
        client.close()
    typer.echo(f"{action}: {status}{f' ({detail})' if detail else ''}")
    if status != "accepted":
        raise typer.Exit(ExitCode.FAILED)


def _data_dir(data_dir: Path | None) -> Path | None:
    """``--data-dir``, else the data folder the environment names."""
    from edge_agent.config import data_dir_from_environment

    return data_dir or data_dir_from_environment()


def export_truth(
    spec: Annotated[str, typer.Argument(help="instrument spec, e.g. replay:beps")],
    out: Annotated[Path, typer.Argument(help="output .npz")],
    data_dir: DataDirOpt = None,
) -> None:
    """Write a replay instrument's ground truth."""
    from edge_agent.instruments.registry import make_instrument
    from edge_agent.instruments.replay import ReplayMicroscope

    folder = _data_dir(data_dir)
    instrument = make_instrument(spec, dwell_s=0.0, data_dir=str(folder) if folder else None)
    if not isinstance(instrument, ReplayMicroscope):
        fail(f"{spec} has no ground truth to export")
    path = instrument.export_truth(out)
    grid = instrument.info.grid_shape
    typer.echo(f"wrote {path}: {grid[0]} x {grid[1]} spectra of "
               f"{instrument.info.spectrum_length} ({instrument.info.attribution})")


def export_dataset(
    name: Annotated[str, typer.Argument(help="a built-in data set (see replay:NAME) or all")],
    out_dir: Annotated[Path, typer.Argument(help="folder for NAME.h5")],
    data_dir: DataDirOpt = None,
) -> None:
    """Write built-in data sets as replay files (.h5).

    Exit 1 if the named one (or any, with all) cannot be written; with all, one whose source
    file or reader is missing is skipped."""
    from edge_agent.instruments.datasets import DATASETS, load_dataset
    from edge_agent.instruments.replay_file import write_replay_h5

    try:
        import h5py  # noqa: F401  (fail before loading anything)
    except ImportError:
        fail("export-dataset needs h5py: pip install 'microscope-autopilot[hdf5]'")
    every = name == "all"
    if not every and name not in DATASETS:
        fail(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}, all")
    failed = False
    for each in sorted(DATASETS) if every else [name]:
        try:
            dataset = load_dataset(each, data_dir=_data_dir(data_dir))
        except (FileNotFoundError, ImportError) as exc:
            print(f"{'skipped' if every else 'cannot export'} {each}: "
                  f"{'needs an optional package: ' if isinstance(exc, ImportError) else ''}"
                  f"{exc}", file=sys.stderr)
            failed = failed or not every
            continue
        try:
            path = write_replay_h5(dataset, out_dir / f"{each}.h5")
        except ValueError as exc:
            print(f"cannot export {each}: {exc}", file=sys.stderr)
            failed = True
            continue
        rows, cols = dataset.grid_shape
        typer.echo(f"wrote {path}: {rows} x {cols} spectra of {dataset.spectra.shape[2]} on a "
                   f"{' x '.join(map(str, dataset.image.shape))} image ({dataset.attribution})")
    if failed:
        raise typer.Exit(ExitCode.FAILED)


def drivers() -> None:
    """List instrument drivers, built-in and installed plug-ins.

    Exit 1 if a plug-in cannot be loaded (it says why)."""
    from edge_agent.instruments.registry import ENTRY_POINT_GROUP, driver_entries

    entries = driver_entries()
    for entry in entries:
        if entry.origin == "built-in":
            typer.echo(f"{entry.kind:8s} {entry.help}")
    plugins = [e for e in entries if e.origin != "built-in"]
    typer.echo(f"plug-ins ({ENTRY_POINT_GROUP}): {len(plugins) or 'none installed'}")
    for entry in plugins:
        typer.echo(f"{entry.kind:8s} {entry.error or entry.help}\n{'':8s} {entry.origin}")
    if any(e.error for e in plugins):
        raise typer.Exit(ExitCode.FAILED)


def serve_twin(
    dataset: Annotated[str, typer.Argument(help="a data set name or file, or a replay:/sim: "
                                           "spec")],
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="port (0: any free port)")]
    = 9092,
    noise: Annotated[float, typer.Option(help="noise, relative to the data's std")] = 0.0,
    seed: Annotated[int, typer.Option(help="noise seed")] = 0,
    data_dir: DataDirOpt = None,
) -> None:
    """Serve a replay data set over Pyro5 as a DTMicroscope-style twin.

    The edge drives it with --instrument twin:HOST:PORT; Ctrl-C or SIGTERM stops it."""
    try:
        from edge_agent.instruments import pyro_twin_server as twin
    except ImportError:
        fail("serve-twin needs Pyro5: pip install 'microscope-autopilot[twin]'")
    setup_logging("INFO")
    folder = _data_dir(data_dir)
    served = twin.load_served_dataset(dataset, str(folder) if folder else None)
    server = twin.TwinServer(twin.ReplayTwin(served, noise=noise, seed=seed),
                             host=host, port=port)
    typer.echo(f"serving {served.name} ({served.attribution}) at {server.uri}\n"
               f"edge: --instrument {server.spec}   (Ctrl-C stops)")
    sys.stdout.flush()
    twin.serve_until_stopped(server)


def spool(path: SpoolOpt) -> None:
    """Show what a spool folder holds."""
    from edge_agent.control import AgentLock
    from edge_agent.spool import DB_NAME, Spool

    if not (path / DB_NAME).exists():
        raise ConfigError(f"no spool in {path}", field="spool")
    with Spool(path) as held:
        typer.echo(f"spool {path}: session {held.session_id}, {held.count} unacknowledged "
                   f"measurement(s), {held.nbytes} bytes, {held.rejected_count()} rejected; "
                   f"agent {'running' if AgentLock.held(path) else 'not running'}")
