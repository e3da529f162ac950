# Two commands for a fresh machine: `make run` (set up + launch the app on the demo data) and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test setup browser lint bench clean

run: setup
	$(BIN)/python -m app ui

test: setup browser
	bash scripts/test.sh

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v $(PY) >/dev/null || { echo "Python 3.11 is required (looked for $(PY))"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q -e ".[jax,torch,test,bench]"
	touch $@

browser:
	bash scripts/install_browser.sh

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
