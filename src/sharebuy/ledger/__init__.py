"""The double-entry ledger: accounts, journal entries with balanced postings, the hash chain."""
