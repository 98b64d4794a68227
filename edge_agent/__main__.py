"""``python -m edge_agent ...`` = ``autopilot edge ...``."""

import sys

from edge_agent.cli import main

sys.exit(main())
