"""Nitro emulation of the embedded chain: L1 data pricing, ArbSys, ArbGasInfo, NodeInterface
and the Stylus activation data fee (see docs/nitro.md)."""
