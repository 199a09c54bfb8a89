"""`python -m envcheck` = the envcheck command (no install needed on the controller)."""

import sys

from envcheck.cli import main

sys.exit(main())
