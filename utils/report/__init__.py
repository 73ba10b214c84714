"""The report room: what a run leaves behind. The final table, summary.json, and report.html
with its data loading and plots. It may use `utils.observe` (aggregates, CSV formats) and the
basics; never the rooms that run load."""
