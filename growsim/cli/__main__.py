"""``python -m growsim.cli``: the growsim command."""

import sys

from growsim.cli.main import main

sys.exit(main())
