"""Identities: users and their passwords, tokens, web sessions, TOTP, merchants' POS API keys."""
