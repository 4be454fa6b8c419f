"""The statements an HTTP purchase by a POS key sends: its round trips bound what two workers
can serve.  The key's record is written in the sale's transaction and never read first."""

from __future__ import annotations

import pytest

from sharebuy.rewards import purchase_service
from tests.statements import sent_statements
from tests.web.conftest import Town

# The POS key, the sale's four statements (tests/integration/test_purchase_statements.py) and
# the Idempotency-Key's record, not counting BEGIN/COMMIT.
BUDGET_POSTGRES = 6


def test_an_http_purchase_keeps_to_its_statement_budget(town: Town, monkeypatch: pytest.MonkeyPatch) -> None:
    # The journal's sealing runs at most every 0.2 s per process, whatever the request: not counted.
    monkeypatch.setattr(purchase_service, "seal_soon", lambda _engine: None)
    body = {"consumer_id": town["A"].member_id, "amount": "12.00"}
    warm = town.call("posX", "POST", "/purchases", json=body, headers={"Idempotency-Key": "warm"})
    assert warm.status_code == 201, warm.text  # also the key's last use, written once a minute
    with sent_statements(town.engine) as seen:
        answer = town.call("posX", "POST", "/purchases", json=body, headers={"Idempotency-Key": "counted"})
    assert answer.status_code == 201, answer.text
    records = [s for s in seen if "idempotency_records" in s]
    assert len(records) == 1 and records[0].upper().startswith("INSERT"), records
    if town.engine.dialect.name == "postgresql":
        assert len(seen) <= BUDGET_POSTGRES, seen
