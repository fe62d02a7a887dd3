"""Organisations, API clients, roles, the audit log and idempotent creation."""
