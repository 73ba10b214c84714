"""The orchestrator, in rooms with one job each; imports go downwards only.

    run/       one benchmark run: `Run`, run directory, IoT half, outputs      (the top)
    load/      offering load: `Workload`, scheduler, rate profiles, capacity
    iot/       simulated devices, sensor models, datasets, record verification
    devchain/  the embedded chain (py-evm child) with its Stylus host in `stylus/`
    chain/     talking to a chain: JSON-RPC, tx engine, fees, wallets, deployers
    observe/   measuring: events, stats hub, histograms, sinks, health
    report/    what a run leaves: final table, summary, report.html

Order, top to bottom: run -> load, iot, contracts/ -> lcore_node/ -> devchain -> chain ->
report, observe -> basics (`report/` is used by `run/` and uses `observe/`). The modules at
this top level are the basics every room may use: `clock`, `errors`, `aio` and `settings`.
The packages `contracts/` (the workloads) and `lcore_node/` (the IoT node) sit where the
order above puts them. `tests/test_layout.py` checks the direction.
"""
