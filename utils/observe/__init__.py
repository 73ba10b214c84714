"""The observe room: measuring. Events and the stats hub they go through (every event reaches
every sink in a tally, :mod:`utils.observe.stats`), histograms, the run aggregate, and the sinks
that listen (Prometheus, CSV writers, KPI intervals, the live display, health); the KPI
snapshot and the run's verdict read the aggregate. Every room emits into it, so it may use only
the basics at the top of `utils/`."""
