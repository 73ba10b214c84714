"""The run room: one benchmark run wired together (`Run`), its run directory, its IoT half
and its outputs (server, sinks, summary and report at the end). The top of the house: it may
use every room below (load, iot, contracts, lcore_node, devchain, chain, observe, report) and the
basics at the top of `utils/`; nothing below imports it."""
