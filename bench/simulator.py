"""Benchmark: the economy simulator against the same model in radCAD 0.14, and at a million.

    python -m bench.simulator [--quick]      (or: python -m bench.run --only simulator)

1. 1,000 consumers × 365 days, the same scenario and seed through the simulator (this process)
   and through bench/radcad_model.py under radCAD 0.14 with its default settings (a subprocess
   in bench/.radcad-env, a separate virtualenv this script creates on first use: radCAD is never
   installed into the project's environment).  Every daily series must be identical; both are
   timed in the same run.  Target: the simulator ≥ 30× faster.
2. 1,000,000 consumers × 365 days in a fresh process, timed, with its peak resident memory
   (ru_maxrss).  Target: ≤ 60 s and ≤ 4 GB.  The scenario is the 1,000-consumer one scaled by
   1,000 (merchants, total issue and daily airdrop too), so each member sees the same economy.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, Result

RADCAD_ENV = ROOT / "bench" / ".radcad-env"
RADCAD_REQUIREMENTS = ["radcad==0.14", "typing_extensions"]  # radCAD imports it without declaring it
RATIO_TARGET = 30.0
LARGE_SECONDS, LARGE_GB = 60.0, 4.0


def scenario_raw(consumers: int, days: int) -> dict[str, Any]:
    """SPEC default rules, logistic growth from a tenth of the population; scaled per 1,000."""
    scale = max(1, consumers // 1000)
    return {
        "scenario": {"name": f"bench-{consumers}", "days": days, "seed": 1},
        "population": {"consumers": consumers, "merchants": 5 * scale},
        "growth": {"kind": "logistic", "start": max(1, consumers // 10), "rate": 0.04},
        "rules": {"total_issue": str(390_000 * scale), "daily_airdrop": str(500 * scale)},
    }


# -- radCAD's environment ------------------------------------------------------------------------


def radcad_python() -> Path:
    """The benchmark environment's interpreter, made (venv + pip) the first time."""
    python = RADCAD_ENV / "bin" / "python"
    probe = [str(python), "-c", "import radcad, typing_extensions"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    base = getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run([base, "-m", "venv", "--clear", str(RADCAD_ENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *RADCAD_REQUIREMENTS],
        check=True,
    )
    return python


def run_radcad(raw: dict[str, Any], seed: int) -> dict[str, Any]:
    python = radcad_python()
    with tempfile.TemporaryDirectory() as tmp:
        spec, out = Path(tmp) / "scenario.json", Path(tmp) / "out.json"
        spec.write_text(json.dumps(raw))
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        subprocess.run(
            [str(python), str(ROOT / "bench" / "radcad_model.py"), str(spec), str(seed), str(out)],
            check=True,
            env=env,
            cwd=tmp,
        )
        return json.loads(out.read_text())  # type: ignore[no-any-return]


# -- the two measurements ----------------------------------------------------------------------


def against_radcad(days: int = 365, consumers: int = 1000, seed: int = 1) -> Result:
    from sharebuy.simulation import model, scenario

    raw = scenario_raw(consumers, days)
    found = scenario.parse(raw)
    model.run(found, seed)  # warm-up: imports and caches, as radCAD's run has had its imports
    started = time.perf_counter()
    ours = model.run(found, seed)
    seconds = time.perf_counter() - started
    theirs = run_radcad(raw, seed)
    differ = [k for k in model.COLUMNS if ours.series[k].tolist() != theirs["series"][k]]
    ratio = theirs["seconds"] / seconds
    return Result(
        benchmark="simulator vs radCAD",
        database="—",
        config=f"{consumers:,} consumers × {days} days",
        value=seconds,
        unit="s",
        target=f"≥ {RATIO_TARGET:.0f}× faster than radCAD",
        met=ratio >= RATIO_TARGET and not differ,
        details=(
            f"radCAD 0.14 (numpy {theirs['numpy']}, default Engine: pathos backend, deepcopy on, substeps kept): "
            f"{theirs['seconds']:.2f} s; ratio {ratio:.1f}×; "
            + (f"{len(model.COLUMNS)} daily series identical" if not differ else f"series DIFFER: {differ}")
        ),
        data={"simulator_s": seconds, "radcad_s": theirs["seconds"], "ratio": ratio, "differ": differ},
        error=None if not differ else f"outputs differ: {differ}",
    )


def at_scale(consumers: int = 1_000_000, days: int = 365) -> Result:
    done = subprocess.run(
        [sys.executable, "-m", "bench.simulator", "--child", str(consumers), str(days)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    m = json.loads(done.stdout.strip().splitlines()[-1])
    peak_mb = m["maxrss_kb"] / 1024
    full = consumers >= 1_000_000 and days >= 365
    met = m["seconds"] <= LARGE_SECONDS and peak_mb <= LARGE_GB * 1024
    return Result(
        benchmark="simulator at scale",
        database="—",
        config=f"{consumers:,} consumers × {days} days",
        value=m["seconds"],
        unit="s",
        target=f"≤ {LARGE_SECONDS:.0f} s, ≤ {LARGE_GB:.0f} GB"
        if full
        else "(smaller than the target's size)",
        met=met if full else None,
        peak_rss_mb=peak_mb,
        details=(
            f"{m['purchases']:,} purchases, {m['trades']:,} points traded (units), {m['merchants']:,} merchants; "
            f"peak RSS of a fresh process (interpreter and imports included)"
        ),
        data=m,
    )


def child(consumers: int, days: int) -> None:
    from sharebuy.simulation import model, scenario

    found = scenario.parse(scenario_raw(consumers, days))
    started = time.perf_counter()
    result = model.run(found)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "purchases": int(result.series["purchases"].sum()),
                "trades": int(result.series["traded"].sum()),
                "merchants": int(result.series["merchants_joined"][-1]),
            }
        )
    )


def run(quick: bool = False) -> list[Result]:
    if quick:
        return [against_radcad(days=120), at_scale(100_000, 365)]
    return [against_radcad(), at_scale()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.simulator", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--child", nargs=2, type=int, metavar=("CONSUMERS", "DAYS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    for row in run(args.quick):
        print(json.dumps(row.as_dict(), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
