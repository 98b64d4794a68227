"""``python -m autopilot_cli ARGS...`` = ``autopilot ARGS...`` (no script on PATH needed)."""

import sys

from autopilot_cli.dispatch import main

sys.exit(main())
