"""Members: consumers, merchants and their staff; statuses, approval, deposits, grants."""
