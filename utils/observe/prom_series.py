"""Prometheus series kept as plain numbers and exported at scrape time.

prometheus_client's metrics take a lock in every ``inc`` and ``observe``: on the hot path
of a run (several metrics per transaction) that lock was most of the Prometheus sink's
cost. These series are written by one thread only (the run's event loop) and read by the
scrape (the HTTP thread) through :class:`SeriesCollector`, which snapshots them: a
scrape sees every series as it was between two updates. Names, help, label names, the
``_total`` / ``_bucket`` / ``_sum`` / ``_count`` / ``_created`` samples and the bucket
bounds are what prometheus_client's own ``Counter``, ``Gauge`` and ``Histogram`` export.
A histogram can take bucket counts counted elsewhere (:meth:`HistogramSeries.add`), or the
run's own log-linear histogram of a tally, re-bucketed (:meth:`HistogramSeries.add_histogram`,
bounds from :mod:`utils.observe.buckets`): the Prometheus buckets then hold exactly what the
report's percentiles are read from.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from utils.observe.buckets import bucket_of, fine_map
from utils.observe.histogram import Histogram

Labels = tuple[str, ...]


class _Series:
    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.created: dict[Labels, float] = {}

    def _new(self, labels: Labels) -> None:
        if len(labels) != len(self.labelnames):
            raise ValueError(f"{self.name}: labels {labels} for {self.labelnames}")
        self.created[labels] = time.time()

    def collect(self) -> Metric:
        raise NotImplementedError


class _ValueSeries(_Series):
    """One number per label set (a counter's or a gauge's), created at 0 on first use."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, documentation, labelnames)
        self.values: dict[Labels, float] = {}

    def touch(self, *labels: str) -> None:
        """Create the series at 0 (dashboards see it before its first event)."""
        if labels not in self.values:
            self._new(labels)
            self.values[labels] = 0

    def inc(self, labels: Labels, amount: float = 1) -> None:
        values = self.values
        value = values.get(labels)
        if value is None:
            self._new(labels)
            value = 0
        values[labels] = value + amount


class CounterSeries(_ValueSeries):
    def collect(self) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        created = self.created
        for labels, value in list(self.values.items()):
            family.add_metric(labels, float(value), created=created.get(labels))
        return family


class GaugeSeries(_ValueSeries):
    def collect(self) -> Metric:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, value in list(self.values.items()):
            family.add_metric(labels, float(value))
        return family


class HistogramSeries(_Series):
    """Per label set: one count per bucket (the last one +Inf), then the sum."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str],
                 buckets: Sequence[float]) -> None:
        super().__init__(name, documentation, labelnames)
        self.bounds = tuple(float(b) for b in buckets)
        self._les = [floatToGoString(b) for b in self.bounds] + ["+Inf"]
        self.cells: dict[Labels, list[float]] = {}
        self._of_fine: tuple[int, ...] | None = None  # see add_histogram

    def _cell(self, labels: Labels) -> list[float]:
        cell = self.cells.get(labels)
        if cell is None:
            self._new(labels)
            cell = self.cells[labels] = [0] * (len(self.bounds) + 2)
        return cell

    def touch(self, *labels: str) -> None:
        self._cell(labels)

    def observe(self, labels: Labels, value: float) -> None:
        cell = self.cells.get(labels) or self._cell(labels)
        cell[bucket_of(self.bounds, value)] += 1
        cell[-1] += value

    def add(self, labels: Labels, counts: Iterable[int], total: float) -> None:
        """Observations counted per bucket elsewhere (same bounds), with their sum."""
        cell = self.cells.get(labels) or self._cell(labels)
        for index, n in enumerate(counts):
            if n:
                cell[index] += n
        cell[-1] += total

    def add_histogram(self, labels: Labels, hist: Histogram) -> None:
        """The observations of the run's histogram ``hist`` (the bounds must be edges of
        its buckets: :func:`~utils.observe.buckets.fine_map`)."""
        of_fine = self._of_fine
        if of_fine is None:
            of_fine = self._of_fine = fine_map(self.bounds)
        cell = self.cells.get(labels) or self._cell(labels)
        for index, n in hist.counts.items():
            cell[of_fine[index]] += n
        cell[-1] += hist.total

    def collect(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, cell in list(self.cells.items()):
            counts = list(cell)
            cumulative, running = [], 0.0
            for le, n in zip(self._les, counts[:-1], strict=True):
                running += n
                cumulative.append((le, running))
            family.add_metric(labels, cumulative, counts[-1])
            created = self.created.get(labels)
            if created is not None:
                family.add_sample(self.name + "_created", dict(zip(self.labelnames, labels,
                                                                   strict=True)), created)
        return family


class SeriesCollector:
    """A collector over series, registered on ``registry`` (the run's, never the global)."""

    def __init__(self, registry: CollectorRegistry, series: Sequence[_Series]) -> None:
        self.series = list(series)
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        for series in self.series:
            yield series.collect()
