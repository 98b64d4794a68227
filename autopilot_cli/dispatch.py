"""``autopilot``: one command line for every part that is installed.

Subcommands are discovered through the ``microscope_autopilot.commands`` entry-point group,
so the edge install (protocol + edge_agent) gets ``autopilot edge`` and ``autopilot keys``
without the planner's dependencies, and ``[planner]`` adds ``planner``, ``demo``, ... This
module imports none of the packages that provide them.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

from autopilot_cli.exit_codes import ExitCode

GROUP = "microscope_autopilot.commands"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    commands = {ep.name: ep for ep in entry_points(group=GROUP)}
    if not args or args[0] in ("-h", "--help"):
        print("usage: autopilot COMMAND [ARGS...]\n\ncommands:")
        for name in sorted(commands):
            print(f"  {name}")
        print("\n`autopilot COMMAND --help` for a command's options.")
        return ExitCode.OK
    name, rest = args[0], args[1:]
    if name not in commands:
        print(f"autopilot: unknown command {name!r}; known: {', '.join(sorted(commands))}",
              file=sys.stderr)
        return ExitCode.USAGE
    try:
        command = commands[name].load()
    except ImportError as exc:
        print(f"autopilot {name}: needs an optional part that is not installed ({exc}); "
              "try `pip install 'microscope-autopilot[planner]'`", file=sys.stderr)
        return ExitCode.USAGE
    result = command(rest)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
