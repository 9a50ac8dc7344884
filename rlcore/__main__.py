"""`python -m rlcore ...`: the command line (rlcore.cli)."""

import sys

from rlcore.cli import main

sys.exit(main())
