"""``python -m utils.devchain``: the dev chain as a process of its own."""

import logging
import os
import sys

from utils.devchain.cli import main

code = main()
# Stopped: nothing is left to write (a scratch store's file is unlinked when opened, a kept
# one was sealed and closed by utils.devchain.child.run). Skip the
# interpreter's teardown of py-evm's heap: it made every run wait 0.2-0.3 s for its chain.
sys.stdout.flush()
sys.stderr.flush()
logging.shutdown()
os._exit(code)
