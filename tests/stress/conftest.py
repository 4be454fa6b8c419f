"""Fixtures of the stress tests: the private PostgreSQL cluster, seeds and durations.

`STRESS_SEED` fixes the random choices of a run (printed at the start, so a failing run can be
repeated); `STRESS_SECONDS` is how long the bank test's clients run.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import pytest

from tests.stress.cluster import PrivateCluster, postgres_bin


@pytest.fixture(scope="session")
def cluster() -> Iterator[PrivateCluster]:
    bindir = postgres_bin()
    if bindir is None:
        if os.environ.get("SHAREBUY_REQUIRE_POSTGRES") == "1":
            pytest.fail("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    found = PrivateCluster(bindir)
    found.init()
    found.start()
    try:
        yield found
    finally:
        found.remove()


@pytest.fixture
def seed() -> int:
    value = int(os.environ.get("STRESS_SEED") or random.SystemRandom().randrange(1, 2**31))
    print(f"\nSTRESS_SEED={value}")
    return value


@pytest.fixture
def stress_seconds() -> float:
    return float(os.environ.get("STRESS_SECONDS", "45"))
