"""Imports every part's tables so the metadata is complete (Alembic, tests, resets)."""

from sharebuy.db.base import metadata
from sharebuy.ledger import models as _ledger  # noqa: F401
from sharebuy.members import models as _members  # noqa: F401
from sharebuy.rewards import models as _rewards  # noqa: F401

__all__ = ["metadata"]
