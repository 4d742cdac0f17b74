# Marquee — the two commands: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# The venv is rebuilt only when the pins or the package metadata change.
PIN_HASH := $(shell cat requirements.txt constraints.txt pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.marquee-installed-$(PIN_HASH)
export MARQUEE_HOME ?= $(CURDIR)/.marquee
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install chromium demo experiment test lint ui serve bench clean-state

install: $(STAMP)

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@echo ">> bootstrapping $(VENV) (pins changed or first run)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@rm -f $(VENV)/.marquee-installed-*
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	@# sqlglotc (pulled in by sqlglot[rs]) breaks Feast's ibis-based DuckDB offline store.
	$(BIN)/python -m pip uninstall --quiet -y sqlglotc || true
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

demo: install
	$(BIN)/marquee demo

# A short simulated A/B test on the demo home (run `make demo` first).
experiment: install
	$(BIN)/marquee experiment-demo

test: install chromium
	$(BIN)/ruff check .
	@# Where `make chromium` could install the browser (root + apt-get), its test must not skip.
	MARQUEE_REQUIRE_BROWSER=$$(command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && echo 1) \
	  $(BIN)/python -m pytest -q

# Headless Chromium for tests/test_ui_browser.py: Debian's package, installed once when missing
# (CI runs as root). Without apt-get (or root) the browser test skips and says why.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo ">> installing chromium (apt-get) for the browser test"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
	      || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; } \
	      || echo ">> could not install chromium: the browser test will skip"; \
	  else echo ">> no chromium and no apt-get as root: the browser test will skip"; fi; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

ui: install
	$(BIN)/marquee ui

serve: install
	$(BIN)/marquee serve --host 127.0.0.1 --port 8000

bench: install
	$(BIN)/python -m benchmarks.run

clean-state:
	rm -rf $(MARQUEE_HOME)
