"""PACT v3: the ProductFootprint mapping, the host API and its events."""
