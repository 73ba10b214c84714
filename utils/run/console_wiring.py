"""A run's console (docs/console.md): its own endpoints' API and token when it runs alone, the
feed of ticks, the lines that tell the terminal where things are, and the log guard that
keeps the token out of every log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TextIO

from server import ControlGuard
from utils.observe.console_feed import ConsoleFeed, FeedSources
from utils.run.console_api import api_blueprint
from utils.run.console_host import ConsoleHost
from utils.run.parts import RunBase
from utils.settings import NON_TX_WORKLOADS

log = logging.getLogger(__name__)

TOKEN_SHOWN = "<console-token>"


def own_console(base: RunBase) -> ConsoleHost:
    """The host of a run that runs alone: its endpoints (started now: a taken port fails
    before anything starts) serve the console's API, with a token when bound beyond
    loopback (printed once on ``base.out``)."""
    guard = ControlGuard.for_host(base.settings.host)
    host = ConsoleHost(mode="run", out=base.settings.out, token_required=guard.token is not None)
    base.outputs.start_server(api_blueprint(host), guard)
    server = base.outputs.server
    assert server is not None
    if guard.token is not None:
        hide_in_logs(guard.token)
    announce(base.out, server.url, guard.token)
    base.outputs.where = [f"console {server.url}/  run folder {base.run_dir}"]
    return host


def announce(out: TextIO, url: str, token: str | None) -> None:
    """The console's address (and, bound beyond loopback, its token: shown here only)."""
    lines = [f"kcstress console: {url}/  (events {url}/api/events, state {url}/api/state)"]
    if token is not None:
        lines.append(f"control token (shown once; every POST /api/... needs it as "
                     f"'Authorization: Bearer TOKEN'): {token}")
        lines.append(f"open the console with control: {url}/?token={token}")
    out.write("\n".join(lines) + "\n")
    out.flush()


def hide_in_logs(token: str) -> None:
    """Every log record made from now on shows ``token`` as :data:`TOKEN_SHOWN` (a record
    factory: it holds for every handler, run.log's too, whenever it is attached)."""
    make = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        text = str(record.msg)
        if token in text or any(token in str(a) for a in record.args or ()):
            record.msg, record.args = record.getMessage().replace(token, TOKEN_SHOWN), None
        return record

    logging.setLogRecordFactory(factory)


def start_feed(base: RunBase, host: ConsoleHost,
               base_fee: Callable[[], int | None]) -> asyncio.Task[None]:
    """The run's ticks to ``host``'s stream, once a second until the task is cancelled (from
    set-up on: the chain's figures appear once it is there)."""
    sources = FeedSources(
        base.aggregate, base.heads, base.selfwatch, base.goodput,
        phase=lambda: base.outputs.health.phase, controls=base.control.describe,
        base_fee=base_fee, planned=base.settings.duration or None,
        iot=base.outputs.iot, not_transactions=NON_TX_WORKLOADS,
    )  # fmt: skip
    feed = ConsoleFeed(base.run_id, sources, host.broadcast, clock=base.clock.now)
    base.hub.listen(feed)
    return asyncio.create_task(feed.run(), name="console-feed")


def wire_live(base: RunBase) -> None:
    """The live panel (made at set-up): the profiles' current targets, a stalled chain."""
    live = base.outputs.live
    if live is not None:
        live.targets = lambda: {n: c["target"] for n, c in base.control.describe().items()}
        live.heads = base.heads
