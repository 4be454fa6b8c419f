# sharebuy — two commands on a fresh machine: `make run` and `make test`.
PY ?= python3
PYTEST_ARGS ?= -n 2
UV_VERSION := 0.13.8
UV := .tools/uv/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
# The browser tests drive Debian's chromium (.ci/run installs it); Playwright never downloads one.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
export SHAREBUY_DATABASE_URL ?= sqlite:///var/sharebuy.db

.PHONY: install run test lint bench demo clean messages screenshots audit stress

$(UV):
	$(PY) -m pip install --quiet --disable-pip-version-check --target .tools/uv uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --compile-bytecode --python python3.11
	@# Byte-compiled up front: the CLI starts fast even where bytecode is never written at run time.
	@$(BIN)/python -m compileall -q src >/dev/null
	@touch $@

install: $(VENV)/.synced

run: install
	$(BIN)/sharebuy demo
	$(BIN)/sharebuy serve --host 127.0.0.1 --port 8000

test: install
	$(BIN)/pytest $(PYTEST_ARGS) -m "not stress"
	@# The crash-and-restart tests kill processes and a private PostgreSQL cluster: one at a time.
	STRESS_SECONDS=45 $(BIN)/pytest -q -p no:xdist -m stress tests/stress

# The stress tests for longer (about 10 minutes): three runs, each with a seed of its own
# (printed; STRESS_SEED=n repeats one).
stress: install
	for run in 1 2 3; do \
	  STRESS_SECONDS=90 STRESS_SETTLEMENT_KILLS=8 $(BIN)/pytest -q -s -p no:xdist -m stress tests/stress || exit 1; \
	done

lint: install
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/ruff format --check src tests bench migrations
	$(BIN)/mypy

# Known vulnerabilities in the locked dependencies (needs PyPI's vulnerability data: see docs/security.md).
audit: $(UV)
	$(UV) export --locked --no-hashes --no-emit-project --quiet -o .tools/requirements.txt
	$(UV) tool run pip-audit==2.9.0 -r .tools/requirements.txt --no-deps --disable-pip --progress-spinner off

bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

LOCALE := src/sharebuy/web/locale

# The pages' catalogues: extract the messages, merge them into the 简体中文 .po (translate what
# is new there), compile the .mo (checked in; a test keeps it in step with the .po).
messages: install
	$(BIN)/pybabel extract -F $(LOCALE)/babel.cfg -k N_ -k _ --no-location --sort-output --no-wrap --omit-header -o $(LOCALE)/messages.pot .
	$(BIN)/pybabel update -i $(LOCALE)/messages.pot -d $(LOCALE) -D messages -l zh_Hans_CN --no-fuzzy-matching --ignore-obsolete --no-wrap
	$(BIN)/pybabel compile -d $(LOCALE) -D messages --statistics

# README pictures of the three consoles, taken by the browser story on SQLite.
screenshots: install
	SHAREBUY_UPDATE_SCREENSHOTS=1 $(BIN)/pytest -q -p no:xdist tests/e2e -k sqlite

clean:
	rm -rf $(VENV) .tools var .pytest_cache .mypy_cache .ruff_cache
