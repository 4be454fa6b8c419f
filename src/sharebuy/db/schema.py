"""Imports every part's tables so the metadata is complete (Alembic, tests, resets)."""

from sharebuy.collectibles import models as _collectibles  # noqa: F401
from sharebuy.db.base import metadata
from sharebuy.events import models as _events  # noqa: F401
from sharebuy.idempotency import models as _idempotency  # noqa: F401
from sharebuy.identity import models as _identity  # noqa: F401
from sharebuy.ledger import models as _ledger  # noqa: F401
from sharebuy.mall import models as _mall  # noqa: F401
from sharebuy.market import models as _market  # noqa: F401
from sharebuy.members import models as _members  # noqa: F401
from sharebuy.rewards import models as _rewards  # noqa: F401
from sharebuy.tiers import models as _tiers  # noqa: F401

__all__ = ["metadata"]
