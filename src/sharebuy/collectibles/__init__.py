"""数字藏品 · digital collectibles: editions, tokens, provenance (SPEC §7, §10)."""
