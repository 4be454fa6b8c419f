# sharebuy — two commands on a fresh machine: `make run` and `make test`.
PY ?= python3
PYTEST_ARGS ?= -n 2
UV_VERSION := 0.13.8
UV := .tools/uv/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export SHAREBUY_DATABASE_URL ?= sqlite:///var/sharebuy.db

.PHONY: install run test lint bench demo clean

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
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/ruff format --check src tests bench migrations
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .tools var .pytest_cache .mypy_cache .ruff_cache
