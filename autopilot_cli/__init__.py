"""The ``autopilot`` command line, shared by every installed part.

Neutral ground between the edge (``edge_agent``, base install) and the planner
(``planner_cluster``, ``[planner]`` extra): the dispatcher, the one way every subcommand runs
and reports mistakes (:mod:`autopilot_cli.app`), its exit codes and the layered configuration
loader every process builds its config with. It imports neither of them.
"""
