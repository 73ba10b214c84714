"""The browser's side of kcstress: the files a page loads, kept here as plain text.

The live console page served at ``/`` (its HTML, script and style), the chart helpers it
shares with ``report.html``, and the vendored chart library (uPlot, pinned, MIT; written by
``scripts/vendor_uplot.sh`` and checked in, so nothing is fetched at run time).
:mod:`utils.web.assets` returns their text; this room imports nothing of the project.
"""
