"""Footprints: a bill of materials in, an ISO 14067 / GB/T 24067 product carbon footprint out."""
