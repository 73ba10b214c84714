"""The load room: offering load. The `Workload` abstraction, the open-loop scheduler that fires
steps at their intended times within each workload's step slots, rate profiles, the capacity
search with its SLOs and per-step probe, worker processes (`--workers`) and the event stream
they send to the parent, shards (`--shard`) and their start barrier, and the garbage
collector's tuning for the load. It may use `utils.chain`, `utils.observe` and the basics;
never `utils.run`."""
