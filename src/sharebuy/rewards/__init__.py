"""Rewards: the rulebook, purchases and refunds, the daily release (settlement), guide price."""
