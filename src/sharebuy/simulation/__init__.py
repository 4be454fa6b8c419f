"""The economy simulator (SPEC §9): the platform's own rules, vectorised, over many members and days.

Reads as: scenario.py (TOML in, validated) → model.py (one run: state.py + mechanics.py for the
rules, behaviour.py + market.py for what members do, cash_model.py for the contrast) →
kpis.py → sweep.py (grids × seeds in processes) → outputs.py, plots.py, report.py.
"""
