"""``python -m growsim``: the ``growsim`` command."""

import sys

from growsim.cli import main

sys.exit(main())
