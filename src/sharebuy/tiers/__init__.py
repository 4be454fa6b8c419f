"""Membership tiers earned by one's own spending or turnover, the dividend pool (分红池) paid from
the platform fee account, and the green certification of merchants (绿色积分) — SPEC §7."""
