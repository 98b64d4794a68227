"""``autopilot edge``: run the agent, control a running one, export replay data.

::

    autopilot edge run --planner tcp://HOST:5555 --instrument replay:beps --dwell 0.5 \\
        --campaign pto-1 --spool ./spool [--signing-key FILE] [--config edge.toml]
    autopilot edge --planner ... --campaign ...         (same as ``run``)
    autopilot edge ctl --spool ./spool pause|resume|stop|abort
    autopilot edge ctl --spool ./spool veto R C | veto-region R0 C0 R1 C1 | add-point R C
    autopilot edge export-truth replay:beps truth.npz
    autopilot edge export-dataset NAME|all OUT_DIR [--data-dir DIR]   (replay files, .h5)
    autopilot edge drivers
    autopilot edge spool --spool ./spool                (what the spool holds)
    autopilot edge serve-twin beps|replay:PATH|sim:loops [--host H --port 9092]   (Pyro5 twin)

argparse only: the edge stays light. Exit codes: 0 done, 1 failed, 2 usage or config error,
3 aborted, 4 stopped with measurements still spooled (they are resent by the next run),
5 interrupted by a service stop (SIGTERM, SIGBREAK, or Ctrl-C with ``--service``): the
instrument was stopped and closed, the campaign stays open and the next run resumes it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from edge_agent.errors import ConfigError, EdgeAgentError

if TYPE_CHECKING:
    from edge_agent.agent import EdgeAgent

log = logging.getLogger(__name__)
SUBCOMMANDS = ("run", "ctl", "export-truth", "export-dataset", "drivers", "spool", "serve-twin")

# (flag, config field, type, help)
_RUN_FLAGS: list[tuple[str, str, type, str]] = [
    ("--planner", "planner", str, "planner gateway address, tcp://HOST:PORT"),
    ("--instrument", "instrument", str, "driver spec: replay:beps|eels|sts|PATH, sim:loops"),
    ("--data-dir", "data_dir", Path, "data folder for replay data sets (or AUTOPILOT_DATA)"),
    ("--dwell", "dwell_s", float, "seconds per spectrum (default: the driver's)"),
    ("--noise", "noise", float, "replay noise, relative to the data's std"),
    ("--seed", "seed", int, "noise / simulated sample seed"),
    ("--campaign", "campaign", str, "campaign id (required)"),
    ("--edge-id", "edge_id", str, "this edge's id (default edge-HOSTNAME)"),
    ("--spool", "spool", Path, "spool folder (durable unacked measurements)"),
    ("--signing-key", "signing_key_file", Path, "file holding the shared signing key"),
    ("--signing-scheme", "signing_scheme", str, "hmac-sha256 (default), blake3 or blake2b"),
    ("--curve-secret", "curve_secret_file", Path, "this edge's CURVE .key_secret file"),
    ("--curve-server-key", "curve_server_public_file", Path, "the planner's CURVE .key file"),
    ("--max-points", "max_points", int, "point budget (campaign-wide)"),
    ("--budget-s", "budget_s", float, "time budget for this run, seconds"),
    ("--max-dose", "max_dose", float, "dose budget (if the instrument reports dose)"),
    ("--batch", "batch", int, "campaign config: measurements per model update"),
    ("--scalarizer", "scalarizer", str, "campaign config: scalarizer name"),
    ("--acquisition", "acquisition", str, "campaign config: acquisition function name"),
    ("--window", "window", int, "measurements in flight before waiting for acks"),
    ("--heartbeat", "heartbeat_s", float, "heartbeat before the planner sets one, s"),
    ("--drain-timeout", "drain_timeout_s", float, "how long a stop waits for acks, s"),
    ("--spool-max-count", "spool_max_count", int, "spool bound: measurements"),
    ("--spool-max-bytes", "spool_max_bytes", int, "spool bound: bytes"),
    ("--log-level", "log_level", str, "DEBUG, INFO, WARNING, ..."),
    ("--progress", "progress", str, "progress line: auto (on a TTY), on, off"),
]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autopilot edge", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a campaign")
    run.add_argument("--config", type=Path, help="TOML config file")
    run.add_argument("--resume", action="store_true", default=None,
                     help="resume an existing campaign")
    run.add_argument("--service", action="store_true", default=None,
                     help="run as a service: Ctrl-C is a service stop like SIGTERM (the "
                          "instrument stops, the campaign stays open to resume; exit 5)")
    for flag, dest, kind, text in _RUN_FLAGS:
        run.add_argument(flag, dest=dest, type=kind, help=text)
    ctl = sub.add_parser("ctl", help="control the agent running on a spool folder")
    ctl.add_argument("--spool", type=Path, required=True)
    ctl.add_argument("--user", default="operator")
    ctl.add_argument("--timeout", type=float, default=10.0)
    ctl.add_argument("words", nargs="+", metavar="COMMAND",
                     help="pause | resume | stop | abort | veto R C | "
                          "veto-region R0 C0 R1 C1 | add-point R C")
    export = sub.add_parser("export-truth", help="write a replay instrument's ground truth")
    export.add_argument("spec", help="instrument spec, e.g. replay:beps")
    export.add_argument("out", type=Path, help="output .npz")
    export.add_argument("--data-dir", type=Path, help="data folder (default: AUTOPILOT_DATA, "
                        "else the workspace's shared/data)")
    dump = sub.add_parser("export-dataset", help="write built-in datasets as replay files")
    dump.add_argument("name", help="a built-in dataset (see replay:NAME) or 'all'")
    dump.add_argument("out_dir", type=Path, help="folder for NAME.h5")
    dump.add_argument("--data-dir", type=Path, help="where the source files are "
                      "(default: AUTOPILOT_DATA, else the workspace's shared/data)")
    sub.add_parser("drivers", help="list instrument drivers (built-in and installed plug-ins)")
    spool = sub.add_parser("spool", help="show what a spool folder holds")
    spool.add_argument("--spool", type=Path, required=True)
    twin = sub.add_parser("serve-twin", help="serve a replay dataset over Pyro5 as a "
                          "DTMicroscope-style twin (the edge drives it with twin:HOST:PORT)")
    twin.add_argument("dataset", help="a dataset name or file, or a replay:/sim: spec")
    twin.add_argument("--host", default="127.0.0.1", help="address to listen on")
    twin.add_argument("--port", type=int, default=9092, help="port (0: any free port)")
    twin.add_argument("--noise", type=float, default=0.0, help="noise, relative to the std")
    twin.add_argument("--seed", type=int, default=0, help="noise seed")
    twin.add_argument("--data-dir", help="where the built-in datasets' files are")
    return parser


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] not in SUBCOMMANDS and args_list[0] not in ("-h", "--help"):
        args_list.insert(0, "run")  # `autopilot edge --planner ...` means run
    try:
        args = _parser().parse_args(args_list)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "ctl":
            return _ctl(args)
        if args.command == "export-truth":
            return _export(args)
        if args.command == "export-dataset":
            return _export_dataset(args)
        if args.command == "spool":
            return _spool(args)
        if args.command == "serve-twin":
            return _serve_twin(args)
        return _drivers()
    except ConfigError as exc:
        print(f"autopilot edge: {exc.message}", file=sys.stderr)
        return 2
    except EdgeAgentError as exc:
        print(f"autopilot edge: {exc.message}", file=sys.stderr)
        return 1


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _run(args: argparse.Namespace) -> int:
    from edge_agent.agent import EdgeAgent
    from edge_agent.config import load_config
    from edge_agent.progress import ProgressLine

    flags = {dest: getattr(args, dest) for _, dest, _, _ in _RUN_FLAGS}
    flags["resume"] = args.resume
    flags["service"] = args.service
    config = load_config(flags, args.config)
    _setup_logging(config.log_level)
    show = config.progress == "on" or (config.progress == "auto" and sys.stderr.isatty())
    line = ProgressLine(sys.stderr) if show else None
    agent = EdgeAgent(config, on_progress=line.update if line else None)
    log.info("edge %s: campaign %s on %s via %s, spool %s", config.edge_id, config.campaign,
             agent.info.name, config.planner, config.spool)
    previous = _handle_signals(agent, service=config.service)
    try:
        result = agent.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if line:
            line.close()
    log.info("campaign %s %s (%s): measured %d this run, %d acknowledged, %d still spooled, "
             "%d rejected", config.campaign, result.state, result.reason, result.measured,
             result.acked, result.pending, result.rejected)
    if result.error:
        print(f"autopilot edge: {result.error}", file=sys.stderr)
    return result.exit_code


def _stop_signals() -> list[signal.Signals]:
    """SIGTERM (systemd, kill, a container's stop) and, on Windows, SIGBREAK (Ctrl-Break)."""
    return [signal.SIGTERM, *([signal.SIGBREAK] if hasattr(signal, "SIGBREAK") else [])]


def _handle_signals(agent: EdgeAgent, *, service: bool) -> dict[int, Any]:
    """Install the run's signal handlers; return the ones they replace.

    A service stop (SIGTERM, SIGBREAK; Ctrl-C too with ``service``) interrupts: the instrument
    stops now and is closed, the campaign stays open for the next run (exit code 5).
    Interactively, Ctrl-C once is ``stop`` (a clean finish), twice ``abort``.
    """
    interrupts = 0

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupts
        interrupts += 1
        action = "stop" if interrupts == 1 else "abort"
        print(f"\n{action} requested (Ctrl-C again to abort)", file=sys.stderr)
        agent.submit_from_signal(action)

    def on_stop(signum: int, frame: FrameType | None) -> None:
        log.warning("%s: service stop; stopping the instrument, the campaign stays open",
                    signal.Signals(signum).name)
        agent.submit_from_signal("interrupt")

    handlers: dict[int, Any] = {sig: on_stop for sig in _stop_signals()}
    handlers[signal.SIGINT] = on_stop if service else on_sigint
    return {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}


def _ctl(args: argparse.Namespace) -> int:
    from edge_agent.control import ControlClient, parse_command
    from edge_agent.errors import ControlError

    try:
        action, cargs = parse_command(args.words)
    except ControlError as exc:  # a usage error, not a refusal
        print(f"autopilot edge ctl: {exc.message}", file=sys.stderr)
        return 2
    client = ControlClient(args.spool)
    try:
        request_id = client.submit(action, cargs, args.user)
        status, detail = client.wait(request_id, args.timeout)
    finally:
        client.close()
    print(f"{action}: {status}{f' ({detail})' if detail else ''}")
    return 0 if status == "accepted" else 1


def _data_dir(args: argparse.Namespace) -> Path | None:
    """``--data-dir``, else the data folder the environment names."""
    from edge_agent.config import data_dir_from_environment

    return Path(args.data_dir) if args.data_dir else data_dir_from_environment()


def _export(args: argparse.Namespace) -> int:
    from edge_agent.instruments.registry import make_instrument
    from edge_agent.instruments.replay import ReplayMicroscope

    data_dir = _data_dir(args)
    instrument = make_instrument(args.spec, dwell_s=0.0,
                                 data_dir=str(data_dir) if data_dir else None)
    if not isinstance(instrument, ReplayMicroscope):
        raise ConfigError(f"{args.spec} has no ground truth to export", field="spec")
    path = instrument.export_truth(args.out)
    grid = instrument.info.grid_shape
    print(f"wrote {path}: {grid[0]} x {grid[1]} spectra of {instrument.info.spectrum_length} "
          f"({instrument.info.attribution})")
    return 0


def _export_dataset(args: argparse.Namespace) -> int:
    """Exit 1 if the named dataset (or any, with ``all``) cannot be written; with ``all``, a
    dataset whose source file or optional reader is missing is skipped, not a failure."""
    from edge_agent.instruments.datasets import DATASETS, load_dataset
    from edge_agent.instruments.replay_file import write_replay_h5

    try:
        import h5py  # noqa: F401  (fail before loading anything)
    except ImportError as exc:
        raise ConfigError("export-dataset needs h5py: pip install "
                          "'microscope-autopilot[hdf5]'", field="name") from exc
    every = args.name == "all"
    if not every and args.name not in DATASETS:
        raise ConfigError(f"unknown dataset {args.name!r}; known: "
                          f"{', '.join(sorted(DATASETS))}, all", field="name")
    code = 0
    for name in sorted(DATASETS) if every else [args.name]:
        try:
            dataset = load_dataset(name, data_dir=_data_dir(args))
        except (FileNotFoundError, ImportError) as exc:
            print(f"{'skipped' if every else 'cannot export'} {name}: "
                  f"{'needs an optional package: ' if isinstance(exc, ImportError) else ''}"
                  f"{exc}", file=sys.stderr)
            if not every:
                code = 1
            continue
        try:
            path = write_replay_h5(dataset, args.out_dir / f"{name}.h5")
        except ValueError as exc:
            print(f"cannot export {name}: {exc}", file=sys.stderr)
            code = 1
            continue
        rows, cols = dataset.grid_shape
        print(f"wrote {path}: {rows} x {cols} spectra of {dataset.spectra.shape[2]} on a "
              f"{' x '.join(map(str, dataset.image.shape))} image ({dataset.attribution})")
    return code


def _drivers() -> int:
    """List every driver; exit 1 if an installed plug-in cannot be loaded (it says why)."""
    from edge_agent.instruments.registry import ENTRY_POINT_GROUP, driver_entries

    entries = driver_entries()
    for entry in entries:
        if entry.origin == "built-in":
            print(f"{entry.kind:8s} {entry.help}")
    plugins = [e for e in entries if e.origin != "built-in"]
    print(f"plug-ins ({ENTRY_POINT_GROUP}): {len(plugins) or 'none installed'}")
    for entry in plugins:
        print(f"{entry.kind:8s} {entry.error or entry.help}\n{'':8s} {entry.origin}")
    return 1 if any(e.error for e in plugins) else 0


def _serve_twin(args: argparse.Namespace) -> int:
    try:
        from edge_agent.instruments import pyro_twin_server as twin
    except ImportError as exc:
        raise ConfigError("serve-twin needs Pyro5: pip install 'microscope-autopilot[twin]'",
                          field="command") from exc
    _setup_logging("INFO")
    data_dir = _data_dir(args)
    dataset = twin.load_served_dataset(args.dataset, str(data_dir) if data_dir else None)
    server = twin.TwinServer(twin.ReplayTwin(dataset, noise=args.noise, seed=args.seed),
                             host=args.host, port=args.port)
    print(f"serving {dataset.name} ({dataset.attribution}) at {server.uri}\n"
          f"edge: --instrument {server.spec}   (Ctrl-C stops)", flush=True)
    twin.serve_until_stopped(server)
    return 0


def _spool(args: argparse.Namespace) -> int:
    from edge_agent.control import AgentLock
    from edge_agent.spool import DB_NAME, Spool

    if not (args.spool / DB_NAME).exists():
        raise ConfigError(f"no spool in {args.spool}", field="spool")
    with Spool(args.spool) as spool:
        print(f"spool {args.spool}: session {spool.session_id}, {spool.count} unacknowledged "
              f"measurement(s), {spool.nbytes} bytes, {spool.rejected_count()} rejected; "
              f"agent {'running' if AgentLock.held(args.spool) else 'not running'}")
    return 0
