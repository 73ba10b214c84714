"""The Stylus host of the embedded chain: Arbitrum Stylus (WASM) programs executed by
wasmtime inside py-evm, with ArbWasm activation and Nitro's ink metering.

Entry point: :func:`utils.devchain.stylus.host.stylus_vm_configuration`. See docs/stylus.md.
"""
