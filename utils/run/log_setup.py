"""The one logging set-up of the command line: the console, and ``run.log`` once a run's
directory exists (records before that are held in memory and written then, so a run that
fails its start-up checks leaves no file behind). Every handler redacts URLs
(:class:`utils.redact.RedactFilter`): a record shows an endpoint as scheme://host:port."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from utils.redact import RedactFilter, Redactor

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
NOISY = ("web3", "urllib3", "asyncio", "aiohttp.access", "werkzeug")
#: ``extra=FILE_ONLY`` keeps a record off the console (it was printed there already)
FILE_ONLY = {"file_only": True}


class RunLog:
    """Holds records until :meth:`attach` names the file; then writes there."""

    def __init__(self, level: str) -> None:
        self._memory = logging.handlers.MemoryHandler(
            capacity=1 << 30, flushLevel=logging.CRITICAL + 1, target=None, flushOnClose=False
        )
        self._memory.setLevel(level)
        self._file: logging.FileHandler | None = None
        self._filters: list[logging.Filter] = []

    def add_filter(self, log_filter: logging.Filter) -> None:
        """A filter of the held records now and of the file's once attached."""
        self._filters.append(log_filter)
        self.handler.addFilter(log_filter)

    @property
    def handler(self) -> logging.Handler:
        return self._file or self._memory

    def attach(self, path: Path) -> None:
        file = logging.FileHandler(path)
        file.setFormatter(logging.Formatter(FORMAT))
        file.setLevel(self._memory.level)
        for log_filter in self._filters:
            file.addFilter(log_filter)
        self._memory.setTarget(file)
        self._memory.flush()
        root = logging.getLogger()
        root.removeHandler(self._memory)
        root.addHandler(file)
        self._memory.close()
        self._file = file


def setup_logging(level: str, run_log: RunLog | None = None,
                  redactor: Redactor | None = None) -> None:
    """The console (WARNING and up on a terminal, where the live display shows progress)
    and, for a run, its :class:`RunLog` at ``level``; both redact URLs with ``redactor``
    (default: every URL a record quotes; give it the run's configured URLs to redact their
    secret parts wherever they appear)."""
    redact = RedactFilter(redactor)
    console = logging.StreamHandler(sys.stderr)
    console.addFilter(redact)
    if sys.stderr.isatty() and run_log is not None:
        console.setLevel(max(logging.WARNING, logging.getLevelName(level)))
    console.addFilter(lambda record: not getattr(record, "file_only", False))
    handlers: list[logging.Handler] = [console]
    if run_log is not None:
        run_log.add_filter(redact)
        handlers.append(run_log.handler)
    logging.basicConfig(level=level, handlers=handlers, force=True, format=FORMAT)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
