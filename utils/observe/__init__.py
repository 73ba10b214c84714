"""The observe room: measuring. Events and the stats hub they go through, histograms, the run
aggregate, and the sinks that subscribe (Prometheus, CSV writers, KPI intervals, KPI snapshot,
the live display, health). Every room emits into it, so it may use only the basics at the top
of `utils/`."""
