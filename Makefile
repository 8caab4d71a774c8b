# tweet-triage: `make run` sets everything up and starts the scoring API; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MODEL ?= models/default
export TRIAGE_DATA_DIR ?= $(abspath ../shared/data)
# The browser tests drive the system's chromium (.ci/run installs it): pip never fetches a browser.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: setup model run test test-fast bench clean demo

setup: $(VENV)/.installed model

# Torch first and pinned: its CPU build is on disk; an unpinned torch pulls gigabytes of CUDA.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[serve,train,dev]"
	touch $@

# The default model is trained from its committed recipe when missing (about 2 minutes on 2 cores).
model: $(VENV)/.installed
	@if [ -f $(MODEL)/manifest.json ]; then echo "model: $(MODEL) is there"; \
	else $(BIN)/triage train --config training/configs/default.toml --output $(MODEL) --force; fi

# Starts the scoring API on http://127.0.0.1:8000 (Ctrl-C stops it); settings: TRIAGE_* variables.
run: setup
	$(BIN)/triage serve --model $(MODEL)

# A fresh inbox of a few hundred real tweets, served at http://127.0.0.1:8000/inbox (Ctrl-C stops).
demo: setup
	$(BIN)/triage demo --model $(MODEL)

test: setup
	$(BIN)/pytest -m "slow or not slow"

test-fast: $(VENV)/.installed
	$(BIN)/pytest

clean:
	rm -rf $(VENV) models var .pytest_cache
