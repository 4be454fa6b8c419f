"""Idempotency of state-changing requests: one effect per key, the first answer on every retry."""
