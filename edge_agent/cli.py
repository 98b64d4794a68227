"""``autopilot edge``: run the agent, control a running one, look after its data.

``autopilot edge --planner ... --campaign ...`` (no subcommand) means ``run``. The commands
that only read or write files live in :mod:`edge_agent.cli_tools`. Exit codes
(:class:`autopilot_cli.exit_codes.ExitCode`): 0 done, 1 failed, 2 usage or config error,
3 aborted, 4 stopped with measurements still spooled (the next run resends them), 5 a service
stop (SIGTERM, SIGBREAK, or Ctrl-C with --service): the instrument was stopped and closed, the
campaign stays open and the next run resumes it.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from autopilot_cli.app import fail, new_app, run_app, setup_logging, stop_signals
from autopilot_cli.exit_codes import ExitCode
from edge_agent import cli_tools
from edge_agent.errors import AgentNotRunningError, ConfigError, ControlError, EdgeAgentError

if TYPE_CHECKING:
    from edge_agent.agent import EdgeAgent

log = logging.getLogger(__name__)

edge_app = new_app("The edge agent: run a campaign on an instrument, control a running "
                   "agent, export replay data.")


def _opt(flag: str, help_text: str) -> Any:
    return typer.Option(flag, help=help_text)


@edge_app.command("run")
def run(  # one parameter per setting: docs/edge.md describes each
    config_file: Annotated[Path | None, _opt("--config", "TOML config file: top-level keys "
                                             "or an edge table, plus a campaign table")] = None,
    planner: Annotated[str | None, _opt("--planner", "planner gateway address, "
                                        "tcp://HOST:PORT (a comma-separated list to fail "
                                        "over)")] = None,
    instrument: Annotated[str | None, _opt("--instrument", "driver spec: replay:beps, "
                                           "replay:eels, replay:sts, replay:PATH, sim:loops, "
                                           "twin:HOST:PORT, ...")] = None,
    data_dir: Annotated[Path | None, _opt("--data-dir", "data folder for replay data sets "
                                          "(or AUTOPILOT_DATA)")] = None,
    dwell_s: Annotated[float | None, _opt("--dwell", "seconds per spectrum (default: the "
                                          "driver's)")] = None,
    noise: Annotated[float | None, _opt("--noise", "replay noise, relative to the data's "
                                        "std")] = None,
    seed: Annotated[int | None, _opt("--seed", "noise / simulated sample seed")] = None,
    campaign: Annotated[str | None, _opt("--campaign", "campaign id (required)")] = None,
    edge_id: Annotated[str | None, _opt("--edge-id", "this edge's id (default "
                                        "edge-HOSTNAME)")] = None,
    spool: Annotated[Path | None, _opt("--spool", "spool folder: measurements kept until "
                                       "the planner acknowledges them")] = None,
    signing_key_file: Annotated[Path | None, _opt("--signing-key", "file holding the "
                                                  "signing key (shared, or this edge's "
                                                  "own)")] = None,
    signing_scheme: Annotated[str | None, _opt("--signing-scheme", "hmac-sha256 (default), "
                                               "blake3 or blake2b")] = None,
    curve_secret_file: Annotated[Path | None, _opt("--curve-secret", "this edge's CURVE "
                                                   ".key_secret file")] = None,
    curve_server_public_file: Annotated[Path | None, _opt("--curve-server-key", "the "
                                                          "planner's CURVE .key file")] = None,
    max_points: Annotated[int | None, _opt("--max-points", "point budget "
                                           "(campaign-wide)")] = None,
    budget_s: Annotated[float | None, _opt("--budget-s", "time budget for this run, "
                                           "seconds")] = None,
    max_dose: Annotated[float | None, _opt("--max-dose", "dose budget (if the instrument "
                                           "reports dose)")] = None,
    batch: Annotated[int | None, _opt("--batch", "campaign config: measurements per model "
                                      "update")] = None,
    scalarizer: Annotated[str | None, _opt("--scalarizer", "campaign config: scalarizer "
                                           "name")] = None,
    acquisition: Annotated[str | None, _opt("--acquisition", "campaign config: acquisition "
                                            "function name")] = None,
    window: Annotated[int | None, _opt("--window", "measurements in flight before waiting "
                                       "for acknowledgements")] = None,
    heartbeat_s: Annotated[float | None, _opt("--heartbeat", "heartbeat before the planner "
                                              "sets one, seconds")] = None,
    drain_timeout_s: Annotated[float | None, _opt("--drain-timeout", "how long a stop waits "
                                                  "for acknowledgements, seconds")] = None,
    spool_max_count: Annotated[int | None, _opt("--spool-max-count", "spool bound: "
                                                "measurements")] = None,
    spool_max_bytes: Annotated[int | None, _opt("--spool-max-bytes", "spool bound: "
                                                "bytes")] = None,
    log_level: Annotated[str | None, _opt("--log-level", "DEBUG, INFO, WARNING, ...")] = None,
    progress: Annotated[str | None, _opt("--progress", "progress line: auto (on a "
                                         "terminal), on, off")] = None,
    resume: Annotated[bool, _opt("--resume", "resume an existing campaign")] = False,
    service: Annotated[bool, _opt("--service", "run as a service: Ctrl-C is a service stop "
                                  "like SIGTERM (the instrument stops, the campaign stays "
                                  "open to resume; exit 5)")] = False,
) -> None:
    """Run a campaign: measure where the planner asks until the budget is spent."""
    flags = dict(planner=planner, instrument=instrument, data_dir=data_dir, dwell_s=dwell_s,
                 noise=noise, seed=seed, campaign=campaign, edge_id=edge_id, spool=spool,
                 signing_key_file=signing_key_file, signing_scheme=signing_scheme,
                 curve_secret_file=curve_secret_file,
                 curve_server_public_file=curve_server_public_file, max_points=max_points,
                 budget_s=budget_s, max_dose=max_dose, batch=batch, scalarizer=scalarizer,
                 acquisition=acquisition, window=window, heartbeat_s=heartbeat_s,
                 drain_timeout_s=drain_timeout_s, spool_max_count=spool_max_count,
                 spool_max_bytes=spool_max_bytes, log_level=log_level, progress=progress,
                 resume=resume or None, service=service or None)  # unset: the file's value
    raise typer.Exit(_run(flags, config_file))


def _run(flags: dict[str, Any], config_file: Path | None) -> int:
    from edge_agent.agent import EdgeAgent
    from edge_agent.config import load_config
    from edge_agent.progress import ProgressLine

    config = load_config(flags, config_file)
    for flag, path in (("--signing-key", config.signing_key_file),
                       ("--curve-secret", config.curve_secret_file),
                       ("--curve-server-key", config.curve_server_public_file)):
        if path is not None and not path.is_file():  # before anything starts
            fail(f"{flag} {path}: no such file")
    setup_logging(config.log_level)
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

    handlers: dict[int, Any] = {sig: on_stop for sig in stop_signals()}
    handlers[signal.SIGINT] = on_stop if service else on_sigint
    return {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}


edge_app.command("ctl")(cli_tools.ctl)
edge_app.command("spool")(cli_tools.spool)
edge_app.command("drivers")(cli_tools.drivers)
edge_app.command("export-truth")(cli_tools.export_truth)
edge_app.command("export-dataset")(cli_tools.export_dataset)
edge_app.command("serve-twin")(cli_tools.serve_twin)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0].startswith("-") and args[0] not in ("-h", "--help"):
        args.insert(0, "run")  # `autopilot edge --planner ...` means run
    return run_app(edge_app, "edge", args, errors={
        AgentNotRunningError: ExitCode.UNREACHABLE, ConfigError: ExitCode.USAGE,
        ControlError: ExitCode.USAGE, EdgeAgentError: ExitCode.FAILED,
        OSError: ExitCode.USAGE})  # OSError: a file named on the command line or in config
