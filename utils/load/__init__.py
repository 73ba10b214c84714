"""The load room: offering load. The `Workload` abstraction, the open-loop scheduler that fires
steps at intended times, and (as they land) rate profiles and the capacity search. It may use
`utils.chain`, `utils.observe` and the basics; never `utils.run`."""
