"""Compiles activated Stylus programs once and runs them under wasmtime.

One :class:`StylusRuntime` owns a wasmtime engine configured with Nitro's WASM features, a
linker exposing every supported ``vm_hooks`` import, and a cache of compiled, instrumented
modules keyed by code hash (a program is parsed, metered and compiled by Cranelift once;
each call only instantiates it in a fresh store, as Nitro does).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import wasmtime

from utils.devchain.stylus.context import EarlyExit, HostContext, HostFailure, OutOfInk, PageTracker
from utils.devchain.stylus.engine import HOSTIOS, new_engine
from utils.devchain.stylus.hostio import HOSTIO_IMPLS
from utils.devchain.stylus.meter import INK_LEFT_EXPORT, INK_STATUS_EXPORT, instrument
from utils.devchain.stylus.rules import PAGE_LIMIT, ProgramInfo, check_program

__all__ = ["CallResult", "CompiledProgram", "StylusRuntime"]

logger = logging.getLogger(__name__)

SUCCESS, REVERT, FAILURE, OUT_OF_INK, OUT_OF_STACK = (
    "success", "revert", "failure", "out_of_ink", "out_of_stack",
)
_VAL = {0x7F: wasmtime.ValType.i32(), 0x7E: wasmtime.ValType.i64()}


@dataclass(frozen=True)
class CompiledProgram:
    pre: wasmtime.InstancePre
    info: ProgramInfo


@dataclass(frozen=True)
class CallResult:
    status: str  # one of success / revert / failure / out_of_ink / out_of_stack
    output: bytes
    ink_left: int
    detail: str = ""


class StylusRuntime:
    """Engine, linker and compiled-program cache for one chain (or several)."""

    def __init__(self, cache_size: int = 256, chain_owners: tuple[bytes, ...] = ()) -> None:
        self.engine = new_engine()
        #: ArbOS's chain owners (20-byte addresses): they may cache programs (ArbWasmCache)
        self.chain_owners = chain_owners
        self._linker = wasmtime.Linker(self.engine)
        self._local = threading.local()  # per-thread stack of running program frames
        self._cache: OrderedDict[bytes, CompiledProgram] = OrderedDict()
        self._cache_size = cache_size
        #: activation checks done, by (wasm, page limit): a pure function of both, and the
        #: slowest step of an activation (a Python walk of every code body, 0.1-0.2 s for the
        #: dApp programs), asked for by the simulation, the estimate, the transaction and the
        #: first compilation of each program
        self._checked: OrderedDict[tuple[bytes, int], ProgramInfo] = OrderedDict()
        self._pages: weakref.WeakKeyDictionary[Any, PageTracker] = weakref.WeakKeyDictionary()
        self.compilations = 0
        for name, impl in HOSTIO_IMPLS.items():
            sig = HOSTIOS[name]
            ty = wasmtime.FuncType([_VAL[t] for t in sig.params], [_VAL[t] for t in sig.results])
            self._linker.define_func("vm_hooks", name, ty, self._bind(impl), access_caller=True)

    @property
    def _frames(self) -> list[HostContext]:
        frames: list[HostContext] | None = getattr(self._local, "frames", None)
        if frames is None:
            frames = self._local.frames = []
        return frames

    def _bind(self, impl: Callable[..., Any]) -> Callable[..., Any]:
        local = self._local

        def hostio(caller: wasmtime.Caller, *args: Any) -> Any:
            return impl(local.frames[-1], caller, *args)

        return hostio

    def pages(self, transaction_context: Any) -> PageTracker:
        """The WASM pages open in ``transaction_context``'s transaction."""
        try:
            tracker = self._pages.get(transaction_context)
            if tracker is None:
                tracker = self._pages[transaction_context] = PageTracker()
        except TypeError:  # a context that cannot be weakly referenced: price per call
            tracker = PageTracker()
        return tracker

    def is_running(self, address: bytes) -> bool:
        """Whether a program frame for ``address`` is already on the stack (reentrancy)."""
        return any(frame.address == address for frame in self._frames)

    def check(self, wasm: bytes, page_limit: int = PAGE_LIMIT) -> ProgramInfo:
        """Activation checks; raises :class:`~utils.devchain.stylus.rules.StylusActivationError`
        (a refusal is not remembered: it is checked again next time)."""
        key = (wasm, page_limit)
        info = self._checked.get(key)
        if info is None:
            info = self._checked[key] = check_program(wasm, self.engine, page_limit)
            if len(self._checked) > self._cache_size:
                self._checked.popitem(last=False)
        return info

    def compiled(self, codehash: bytes, wasm: Callable[[], bytes]) -> CompiledProgram:
        """The compiled program for ``codehash``, building it from ``wasm()`` on a miss."""
        program = self._cache.get(codehash)
        if program is not None:
            self._cache.move_to_end(codehash)
            return program
        info = self.check(wasm())
        module = wasmtime.Module(self.engine, instrument(info.module, info.pay_func))
        program = CompiledProgram(self._linker.instantiate_pre(module), info)
        self.compilations += 1
        self._cache[codehash] = program
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return program

    def execute(self, program: CompiledProgram, ctx: HostContext, ink: int) -> CallResult:
        """Run ``user_entrypoint`` with ``ink``; never raises for program misbehaviour."""
        store = wasmtime.Store(self.engine)
        store.set_limits(memory_size=PAGE_LIMIT * 65536, instances=1, tables=1, memories=1)
        instance = program.pre.instantiate(store)
        exports = instance.exports(store)
        ctx.memory = exports["memory"]
        ctx.ink_global = exports[INK_LEFT_EXPORT]
        ctx.status_global = exports[INK_STATUS_EXPORT]
        ctx.ink_global.set_value(store, min(ink, (1 << 63) - 1))
        entry = exports["user_entrypoint"]
        assert isinstance(entry, wasmtime.Func)
        self._frames.append(ctx)
        try:
            status = _status(entry(store, len(ctx.args)))
        except OutOfInk:
            return CallResult(OUT_OF_INK, b"", 0)
        except EarlyExit as exit_:
            status = _status(exit_.status)
        except HostFailure as exc:
            return CallResult(FAILURE, b"", self._ink(ctx, store), str(exc))
        except wasmtime.Trap as trap:
            return self._trap(ctx, store, trap)
        except wasmtime.WasmtimeError as exc:
            return CallResult(FAILURE, b"", self._ink(ctx, store), str(exc))
        finally:
            self._frames.pop()
        return CallResult(status, ctx.outs, self._ink(ctx, store))

    def _trap(self, ctx: HostContext, store: wasmtime.Store, trap: wasmtime.Trap) -> CallResult:
        if ctx.status_global.value(store) != 0:
            return CallResult(OUT_OF_INK, b"", 0)
        if trap.trap_code == wasmtime.TrapCode.STACK_OVERFLOW:
            return CallResult(OUT_OF_STACK, b"", 0)
        return CallResult(FAILURE, b"", self._ink(ctx, store), trap.message.splitlines()[0])

    @staticmethod
    def _ink(ctx: HostContext, store: wasmtime.Store) -> int:
        if ctx.status_global.value(store) != 0:
            return 0
        return max(int(ctx.ink_global.value(store)), 0)


def _status(code: Any) -> str:
    return SUCCESS if int(code) == 0 else REVERT
