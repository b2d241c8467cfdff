"""``python -m tinyae``: the command line."""

import sys

from tinyae.cli import main

sys.exit(main())
