"""``python -m autobot_lib.cli``: the ``autobot`` command."""

import sys

from autobot_lib.cli import main

sys.exit(main())
