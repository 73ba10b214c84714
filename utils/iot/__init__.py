"""The IoT room: simulated devices, their sensor models and replay datasets, and verifying an
lcore database against the chain (`main.py verify`). It may use `lcore_node`, `utils.chain`,
`utils.observe` and the basics; never `utils.run`."""
