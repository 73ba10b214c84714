"""``python -m utils.devchain``: the dev chain as a process of its own."""

import sys

from utils.devchain.cli import main

sys.exit(main())
