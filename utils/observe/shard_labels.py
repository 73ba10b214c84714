"""A ``shard`` label on every metric a shard exports, so Prometheus can tell shards apart
and dashboards sum across them (``sum by (shard) (...)`` or ``sum(...)``).

:class:`ShardLabelled` wraps the run's registry: it collects the registry's families and
hands them out again with ``shard="I"`` added to each sample. The run serves (and keeps
in metrics.prom) a registry holding only this collector; the sinks still update their own
registry, unaware of shards.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

SHARD_LABEL = "shard"


class ShardLabelled:
    """A collector: ``inner``'s metrics with ``shard=<value>`` on every sample."""

    def __init__(self, inner: CollectorRegistry, shard: str) -> None:
        self._inner = inner
        self._shard = shard

    def collect(self) -> Iterator[Metric]:
        for family in self._inner.collect():
            labelled = Metric(family.name, family.documentation, family.type, family.unit)
            labelled.samples = [
                Sample(s.name, {**s.labels, SHARD_LABEL: self._shard}, s.value, s.timestamp,
                       s.exemplar)
                for s in family.samples
            ]
            yield labelled


def exposed_registry(inner: CollectorRegistry, shard: str | None) -> CollectorRegistry:
    """The registry to serve: ``inner`` itself, or ``inner`` with the shard label."""
    if shard is None:
        return inner
    outer = CollectorRegistry(auto_describe=False)
    outer.register(ShardLabelled(inner, shard))
    return outer
