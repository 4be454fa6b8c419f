"""The simulator's model written for radCAD 0.14, run with radCAD's default settings.

Runs ONLY inside the benchmark environment (bench/.radcad-env, made by bench/simulator.py),
never in the project's environment: radCAD pins numpy < 1.26.4.  It imports the simulator's own
rule and behaviour functions (PYTHONPATH=src), so both engines compute the same model and their
outputs can be compared value for value; radCAD adds what it always adds: the state split into
state variables, a policy and state-update functions per partial state update block, a deep copy
of the state for every policy and update call, every substep kept in the results, and the
default (pathos) process backend.

    python bench/radcad_model.py SCENARIO_JSON SEED OUT_JSON
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np
from radcad import Model, Simulation

from sharebuy.simulation import mechanics, model, scenario
from sharebuy.simulation.state import Schedule

State = dict[str, Any]
Params = dict[str, Any]


def _day(s: State) -> int:
    return int(s["day"])


def _rules(params: Params, s: State) -> Any:
    return params["schedule"].on(_day(s))


def p_join(params: Params, substep: int, history: list, s: State) -> dict[str, Any]:
    members, behaviour = s["members"], s["behaviour"]
    active = model.join(params["scenario"], None, members, behaviour, _day(s))
    cohort = members.consumers if _day(s) == 0 else s["cohort"]
    return {"members": members, "behaviour": behaviour, "active": active, "cohort": cohort}


def p_trade(params: Params, substep: int, history: list, s: State) -> dict[str, Any]:
    members, behaviour = s["members"], s["behaviour"]
    drift = model.momentum(s["prices"]) if _day(s) >= 2 else 0.0
    auction = model.trade(None, members, behaviour, _rules(params, s), _day(s), drift)
    return {"members": members, "behaviour": behaviour, "auction": auction}


def p_deposit(params: Params, substep: int, history: list, s: State) -> dict[str, Any]:
    members = s["members"]
    model.deposit(None, members, _rules(params, s), _day(s))
    return {"members": members}


def p_spend(params: Params, substep: int, history: list, s: State) -> dict[str, Any]:
    members, behaviour = s["members"], s["behaviour"]
    spent = model.spend(None, members, behaviour, _rules(params, s), _day(s), s["active"])
    return {"members": members, "behaviour": behaviour, "spent": spent}


def p_settle(params: Params, substep: int, history: list, s: State) -> dict[str, Any]:
    members = s["members"]
    release = mechanics.settle(members, _day(s), _rules(params, s), s["auction"].trades.market_price)
    return {"members": members, "release": release}


def p_record(params: Params, substep: int, history: list, s: State) -> dict[str, Any]:
    cash = s["cash"]
    row = model.day_row(
        s["members"],
        cash,
        _rules(params, s),
        len(s["active"]),
        s["cohort"],
        s["auction"],
        s["spent"],
        s["release"],
    )
    return {"cash": cash, "row": row, "prices": (s["prices"][1], row["guide_price"]), "day": _day(s) + 1}


def _take(key: str) -> Any:
    def update(
        params: Params, substep: int, history: list, s: State, signals: dict[str, Any]
    ) -> tuple[str, Any]:
        return key, signals[key]

    return update


def _block(policy: Any, *keys: str) -> dict[str, Any]:
    return {"policies": {"act": policy}, "variables": {k: _take(k) for k in keys}}


BLOCKS = [
    _block(p_join, "members", "behaviour", "active", "cohort"),
    _block(p_trade, "members", "behaviour", "auction"),
    _block(p_deposit, "members"),
    _block(p_spend, "members", "behaviour", "spent"),
    _block(p_settle, "members", "release"),
    _block(p_record, "cash", "row", "prices", "day"),
]


def build(raw: dict[str, Any], seed: int) -> tuple[Simulation, int]:
    found = scenario.parse(raw)
    schedule = Schedule(found.rulebooks())
    members, behaviour, cash = model.initial(found, seed, None, schedule)
    initial_state = {
        "day": 0,
        "members": members,
        "behaviour": behaviour,
        "cash": cash,
        "active": np.zeros(0, dtype=np.int64),
        "cohort": 0,
        "prices": (0, 0),
        "auction": None,
        "spent": None,
        "release": None,
        "row": {},
    }
    params = {"scenario": [found], "schedule": [schedule]}
    return Simulation(model=Model(initial_state, BLOCKS, params), timesteps=found.days, runs=1), found.days


def main(argv: list[str]) -> None:
    with open(argv[1]) as fh:
        raw = json.load(fh)
    seed, out = int(argv[2]), argv[3]
    simulation, days = build(raw, seed)
    started = time.perf_counter()
    results = simulation.run()  # radCAD's defaults: deepcopy on, substeps kept, pathos backend
    seconds = time.perf_counter() - started
    rows = [r["row"] for r in results if r["substep"] == len(BLOCKS)]
    assert len(rows) == days, (len(rows), days)
    series = {name: [int(row[name]) for row in rows] for name in model.COLUMNS}
    with open(out, "w") as fh:
        json.dump({"seconds": seconds, "numpy": np.__version__, "series": series}, fh)


if __name__ == "__main__":
    main(sys.argv)
