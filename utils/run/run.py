"""One run: prepare -> load phase -> finish, over parts passed as values.

``Run`` owns every resource of a run (chain, RPC connection, engine, lcore node, sinks,
server) through one AsyncExitStack, so each is closed on every path: normal end,
SIGINT/SIGTERM, or an error. Its steps are functions of :class:`~utils.run.parts.RunBase`
and :class:`~utils.run.parts.Prepared`: set-up (:func:`utils.run.prepare.prepare`), a load
phase (:class:`~utils.run.load_phase.FixedRateLoad` for a benchmark,
:class:`~utils.run.capacity_run.CapacityLoad` for a capacity search), the records' and
books' checks, and the end with its one verdict (:func:`utils.run.finish.finish`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TextIO

from utils.chain.connect import LocalLauncher
from utils.clock import Clock
from utils.devchain.launch import launch_embedded
from utils.errors import KcStressError
from utils.iot.verify import verify_records
from utils.observe.verdict import Verdict
from utils.run.chain_watch import REASON as CHAIN_LOST
from utils.run.console_host import ConsoleHost
from utils.run.console_wiring import own_console, start_feed, wire_live
from utils.run.finish import Ending, finish
from utils.run.load_phase import FixedRateLoad, LoadPhase
from utils.run.parts import Prepared, RunBase
from utils.run.prepare import prepare
from utils.run.run_dir import check_out_dir
from utils.settings import Settings

log = logging.getLogger(__name__)

EXIT_MET, EXIT_MISSED, EXIT_CONFIG = 0, 1, 2

__all__ = ["EXIT_CONFIG", "EXIT_MET", "EXIT_MISSED", "Run"]

#: a step between the load and the checks (tests use it to change the chain behind the run)
Hook = Callable[[RunBase, Prepared], Awaitable[None]]


class Run:
    def __init__(self, settings: Settings, *, run_id: str, run_dir: Path,
                 load: LoadPhase | None = None, out: TextIO | None = None,
                 clock: Clock | None = None, launch: LocalLauncher = launch_embedded,
                 on_run_dir: Callable[[Path], None] | None = None,
                 before_checks: Hook | None = None, console: ConsoleHost | None = None,
                 kind: str = "benchmark") -> None:
        """``launch`` starts the local chain when there is no --rpc-url (main.py passes one
        that hands over a chain it started while the run's modules were importing);
        ``on_run_dir`` is called once the run directory exists (main.py attaches run.log);
        ``console``: the console (mode) this run is steered from, its endpoints the console's
        (None: the run serves its own, and takes SIGINT/SIGTERM)."""
        self.base = RunBase.make(settings, run_id, run_dir, out=out, clock=clock)
        self.load = load or FixedRateLoad()
        self.launch = launch
        self.on_run_dir = on_run_dir
        self.before_checks = before_checks
        self.ending = Ending()
        self.verdict: Verdict | None = None
        self.console = console
        self.kind = kind

    @property
    def settings(self) -> Settings:
        return self.base.settings

    @property
    def prepared(self) -> Prepared | None:
        return self.ending.prepared

    async def execute(self) -> int:
        """Run to the end; the exit code is the verdict's. Every check that can fail at start
        runs before the run directory is made (a failure leaves nothing)."""
        base = self.base
        check_out_dir(base.settings.out, base.settings.given_as("out"))
        log.info("run %s (seed %d) will write to %s", base.run_id, base.seed, base.run_dir)
        own = self.console is None
        if self.console is None:
            self.console = own_console(base)  # a taken port fails before anything starts
            self._install_signals()  # a signal during set-up: no load, straight to the end
        console, code = self.console, EXIT_CONFIG
        console.attach(self, self.kind)
        feed = start_feed(base, console, self._base_fee)  # ticks from set-up to the end
        try:
            async with AsyncExitStack() as stack:
                prepared = await prepare(base, stack, self.launch, self.load.needs(base),
                                         self.on_run_dir)
                self.ending.prepared = prepared
                wire_live(base)
                self._phase("load")
                await self.load.run(base, prepared)
                base.aggregate.ended_at = base.clock.now()
                if prepared.finality is not None:  # the samples' batches, up to finality_wait
                    await prepared.finality.finish(
                        0.0 if prepared.chain_lost() else base.settings.finality_wait)
                self._phase("verifying")
                # the CSVs are complete: the report's figures are drawn while the run verifies
                await base.outputs.close(draw_figures=True)
                if self.before_checks is not None:
                    await self.before_checks(base, prepared)
                await self._check(prepared)
            # the endpoints have nothing more to show (metrics.prom holds the last scrape):
            # their server stops (up to one 0.2 s poll) while the summary and report are built
            stopping = threading.Thread(target=self._stop_server, name="stop-http")
            if own:
                stopping.start()
            try:
                self.verdict = finish(base, self.load, self.ending)
                code = self.verdict.code
                return code
            finally:
                if own:
                    stopping.join()
        finally:
            feed.cancel()
            console.detach(self, code)
            if own:
                self._stop_server()
            base.outputs.stop_figures()

    def _base_fee(self) -> int | None:
        prepared = self.ending.prepared
        return prepared.session.fees.base_fee or None if prepared is not None else None

    def _stop_server(self) -> None:
        if self.console is not None:
            self.console.close()  # the event streams end
        self.base.outputs.stop_server()

    def _phase(self, phase: str) -> None:
        self.base.outputs.health.phase = phase
        self.base.timeline.add("run", "phase", phase)

    def request_stop(self, reason: str, who: str = "signal", said: str | None = None) -> None:
        """Stop firing and drain (a signal, or ``POST /api/stop``); once. ``reason`` goes in
        the verdict, ``said`` (default ``reason``) on the live panel."""
        base = self.base
        if base.stop.is_set():
            return
        self.ending.stopped_by = reason
        base.outputs.health.phase = "draining"
        notice = f"draining ({said or reason} received, up to {self.settings.drain_timeout:g} s)"
        base.timeline.add(who, "stop", notice)
        if base.outputs.live is not None:
            base.outputs.live.notice = notice
            base.outputs.live.draw()
        base.stop.set()

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.base.stop.is_set():
            log.warning("%s again: already draining (deadline %g s)", sig.name,
                        self.settings.drain_timeout)
            return
        log.info("%s received: stopping the load and draining", sig.name)
        self.request_stop(sig.name, said="Ctrl-C" if sig is signal.SIGINT else sig.name)

    async def _check(self, prepared: Prepared) -> None:
        """The embedded chain ends with the run: check the books and verify the run's
        records while it is up. A chain that cannot answer them (down, or still busy with a
        backlog) leaves them unchecked, said in the verdict: the run's outputs are written."""
        if prepared.dapps is not None and not prepared.chain_lost():
            try:
                await prepared.dapps.check(prepared.session)  # the books, after every run
            except KcStressError as exc:
                self._unchecked("the dApp books", exc)
        node = prepared.iot.node if prepared.iot is not None else None
        if node is None:
            return
        if prepared.chain_lost():
            log.warning("%s: the run's records are not verified on chain; they stay in %s "
                        "for a later run or `serve`", CHAIN_LOST, node.config.db_path)
            return
        try:
            self.ending.verified = verified = await verify_records(node, on_chain=True)
        except KcStressError as exc:
            self._unchecked("the IoT records", exc)
            return
        log.info("%s", verified.line())

    def _unchecked(self, what: str, exc: KcStressError) -> None:
        log.error("%s could not be checked on chain: %s", what, exc)
        self.ending.unchecked.append(f"{what}: {exc}")
