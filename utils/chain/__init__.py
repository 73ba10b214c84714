"""The chain room: talking to a chain over JSON-RPC. The transport, the transaction engine and
block follower, fees, wallets and funding, the chain session, and deploying the contracts a run
needs (MVPIoTProcessor as EVM twin or Stylus program, with the Stylus code format). It may use
`utils.observe` (to emit events) and the basics; it never starts a chain itself (the caller
passes a launcher) and never imports `utils.devchain`, the rooms above or `lcore_node`."""
