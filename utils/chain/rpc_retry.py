"""How the transport retries, what it keeps count of, and when a run was held back by its
provider rather than limited by its chain.

:class:`RetryPolicy`: an idempotent call (every read, ``eth_call``, ``eth_estimateGas``, a
batch of them, a signed send in its same bytes) is tried again after a transient, connection,
timeout or throttled failure, after ``min(cap, base * 2**(n-1))`` seconds times a random factor
in [0.5, 1) (jitter, so clients do not retry in step), at most ``attempts`` times and never past
``budget`` seconds from the call's start. A ``Retry-After`` (or a throttled answer without one)
holds the whole client back: no request of the Rpc leaves inside that window.

:class:`FaultBook`: the Rpc's totals, :meth:`FaultBook.summary` as a dict (``Rpc.fault_summary``);
:func:`throttled_reason` reads such a dict (or the difference of two, :func:`summary_delta`,
for a load window) and says whether the provider held the run back.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from utils.errors import RpcError, RpcThrottledError

#: provider-throttled when more than this share of the window was spent held back...
THROTTLED_TIME_SHARE = 0.05
#: ...or more than this share of the requests were throttled (and at least MIN_THROTTLED)
THROTTLED_REQUEST_SHARE = 0.01
MIN_THROTTLED = 5


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded, jittered exponential backoff."""

    base: float = 0.1  # seconds before the first retry (times the jitter)
    cap: float = 5.0  # longest wait between two tries
    attempts: int = 8  # tries in all, the first included
    budget: float = 60.0  # seconds from a call's start after which it is not tried again

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        return min(self.cap, self.base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


NO_RETRY = RetryPolicy(attempts=1)  # one try; still waits out a Retry-After window


def policy_of(retry: bool | RetryPolicy, default: RetryPolicy) -> RetryPolicy:
    """A call's ``retry=`` argument as a policy: True the Rpc's, False one try, or its own."""
    if retry is True:
        return default
    return NO_RETRY if retry is False else retry


def worst(errors: list[RpcError]) -> RpcError:
    """Of a batch's failed calls, the one to wait for: a throttled one (the longest
    Retry-After) before any other."""
    throttled = [e for e in errors if isinstance(e, RpcThrottledError)]
    if throttled:
        return max(throttled, key=lambda e: e.retry_after or 0.0)
    return errors[0]


@dataclass(slots=True)
class FaultBook:
    """Counts of one Rpc (requests are counted by the transport, the rest on faults only)."""

    started: float  # perf_counter when the Rpc opened
    requests: int = 0  # HTTP requests posted (a batch is one, a retry another)
    errors: dict[str, int] = field(default_factory=dict)  # kind -> failed requests
    retries: dict[str, int] = field(default_factory=dict)  # kind -> retries after it
    gave_up: dict[str, int] = field(default_factory=dict)  # kind -> calls out of budget
    held_seconds: float = 0.0  # union of the windows no request could leave (throttling)
    backoff_seconds: float = 0.0  # sum of the calls' own waits before retrying
    sends_known: int = 0  # signed sends answered "already known/imported" (ours: sent)
    unsupported: set[str] = field(default_factory=set)  # methods answered "not supported"

    def error(self, kind: str, *, retried: bool) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        book = self.retries if retried else self.gave_up
        if kind != "final" and kind != "reply" and kind != "unsupported":
            book[kind] = book.get(kind, 0) + 1

    def summary(self, now: float) -> dict[str, Any]:
        """Plain data for summary.json: totals since the Rpc opened."""
        return {
            "elapsed_seconds": round(now - self.started, 3),
            "requests": self.requests,
            "throttled": self.errors.get("throttled", 0),
            "errors": dict(sorted(self.errors.items())),
            "retries": dict(sorted(self.retries.items())),
            "gave_up": dict(sorted(self.gave_up.items())),
            "held_seconds": round(self.held_seconds, 3),
            "backoff_seconds": round(self.backoff_seconds, 3),
            "sends_known": self.sends_known,
            "unsupported_methods": sorted(self.unsupported),
        }


def summary_delta(later: dict[str, Any], earlier: dict[str, Any]) -> dict[str, Any]:
    """What happened between two :meth:`FaultBook.summary` dicts of one Rpc (a load window)."""
    out: dict[str, Any] = {}
    for key, value in later.items():
        before = earlier.get(key)
        if isinstance(value, dict):
            prior = before if isinstance(before, dict) else {}
            out[key] = {k: v - prior.get(k, 0) for k, v in value.items() if v - prior.get(k, 0)}
        elif isinstance(value, (int, float)) and isinstance(before, (int, float)):
            out[key] = round(value - before, 3) if isinstance(value, float) else value - before
        else:
            out[key] = value
    return out


def throttled_reason(summary: dict[str, Any]) -> str | None:
    """``"provider-throttled: ..."`` when the provider held the window back: more than 5 % of
    its time inside Retry-After/throttle windows, more than 1 % of its requests throttled (at
    least 5), or a call that gave up while throttled; else None. Such a window's figures are
    the provider's limit, not the chain's capacity."""
    elapsed = float(summary.get("elapsed_seconds") or 0.0)
    requests = int(summary.get("requests") or 0)
    throttled = int(summary.get("throttled") or 0)
    held = float(summary.get("held_seconds") or 0.0)
    gave_up = int((summary.get("gave_up") or {}).get("throttled", 0))
    reasons = []
    if elapsed > 0 and held > THROTTLED_TIME_SHARE * elapsed:
        reasons.append(f"held back {held:.1f} s of {elapsed:.1f} s ({100 * held / elapsed:.1f} %)")
    if throttled >= MIN_THROTTLED and throttled > THROTTLED_REQUEST_SHARE * requests:
        reasons.append(f"{throttled} of {requests} requests throttled "
                       f"({100 * throttled / max(1, requests):.1f} %)")
    if gave_up:
        reasons.append(f"{gave_up} calls gave up while throttled")
    return "provider-throttled: " + "; ".join(reasons) if reasons else None
