"""The history of a run: every operation a client attempted and what it learnt of its fate.

An operation keeps one Idempotency-Key through all its attempts.  Its outcome is
- `ok`: some attempt was answered 2xx (the first answer or the recorded one, replayed);
- `failed`: every attempt was answered, and the last with a definite refusal (4xx), so nothing
  was applied;
- `unknown`: the answer was lost (connection cut after sending, timeout, 5xx while the
  database was down) and no later attempt settled it, or a refusal came after such a loss.
A request that never reached the server (connection refused) settles nothing and is retried.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

# Answers that say nothing about whether the effect happened: retry with the same key.
# ("another settlement is running" is a "try again shortly" too: the first attempt still runs.)
_AMBIGUOUS_CODES = {"idempotency_in_progress", "settlement_running"}


@dataclass
class Op:
    kind: str
    key: str
    method: str
    path: str
    auth: str
    body: Any
    context: dict[str, Any] = field(default_factory=dict)
    outcome: str = "pending"
    status: int | None = None
    answer: Any = None
    attempts: int = 0
    ambiguous_attempts: int = 0
    replayed: bool = False
    errors: list[str] = field(default_factory=list)


class History:
    def __init__(self) -> None:
        self.ops: list[Op] = []
        self._lock = threading.Lock()

    def add(self, op: Op) -> None:
        with self._lock:
            self.ops.append(op)

    def by_outcome(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for op in self.ops:
            counts[op.outcome] = counts.get(op.outcome, 0) + 1
        return counts

    def summary(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {}
        for op in self.ops:
            row = table.setdefault(op.kind, {})
            row[op.outcome] = row.get(op.outcome, 0) + 1
        return table


def perform(client: httpx.Client, op: Op, rng: random.Random, give_up_at: float) -> Op:
    """Send `op` until it is settled or `give_up_at` (monotonic) passes; the same key every time."""
    headers = {"Authorization": f"Bearer {op.auth}", "Idempotency-Key": op.key}
    while True:
        op.attempts += 1
        sent = False
        try:
            if op.body is None:
                answer = client.request(op.method, op.path, headers=headers)
            else:
                answer = client.request(op.method, op.path, headers=headers, json=op.body)
            sent = True
        except httpx.ConnectError as error:  # refused: the request never left us
            op.errors.append(type(error).__name__)
        except httpx.HTTPError as error:  # sent, or maybe sent: its fate is unknown
            op.ambiguous_attempts += 1
            op.errors.append(type(error).__name__)
        if sent:
            code = _code(answer)
            if 200 <= answer.status_code < 300:
                op.outcome, op.status, op.answer = "ok", answer.status_code, answer.json()
                op.replayed = answer.headers.get("Idempotent-Replayed") == "true"
                return op
            if answer.status_code >= 500 or answer.status_code == 429 or code in _AMBIGUOUS_CODES:
                op.ambiguous_attempts += 1
                op.errors.append(f"{answer.status_code} {code}")
            else:
                op.status, op.answer = answer.status_code, answer.json() if _is_json(answer) else answer.text
                op.outcome = "unknown" if op.ambiguous_attempts else "failed"
                return op
        if time.monotonic() >= give_up_at:
            op.outcome = "unknown" if op.ambiguous_attempts else "failed"
            if op.outcome == "failed":
                op.status = None
            return op
        time.sleep(rng.uniform(0.05, 0.3))


def _is_json(answer: httpx.Response) -> bool:
    return "json" in answer.headers.get("content-type", "")


def _code(answer: httpx.Response) -> str:
    if not _is_json(answer):
        return ""
    try:
        data = answer.json()
    except ValueError:
        return ""
    return str(data.get("code", "")) if isinstance(data, dict) else ""
