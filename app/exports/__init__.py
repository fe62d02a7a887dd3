"""Exports: PACT v3 (mapping and host), CBAM data pack, and the footprint report."""
