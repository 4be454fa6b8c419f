"""Shared kernel: exact amounts, errors, business-day clock. Standard library only."""
