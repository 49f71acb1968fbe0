# Set-up is two commands, `make demo` and `make test`; each bootstraps .venv on a fresh machine first.
# .venv is rebuilt only when pyproject.toml changes (the stamp file depends on it).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the tests use as real parts: a browser to render HTML reports, a Redis server
# (the state-store tests start their own on a free loopback port; apt does not need to start it), and
# docker-compose, whose `config` validates deploy/docker-compose.yml without a Docker daemon.
SYSTEM_PACKAGES := chromium redis-server docker-compose

.PHONY: demo test bench lab venv system-deps clean mutate

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] in ((3, 11), (3, 12)), "need Python 3.11 or 3.12, found " + sys.version' 
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do command -v $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "missing system packages:$$missing; install them with: sudo apt-get install$$missing"; exit 1; fi; \
	fi

demo: $(STAMP)
	$(BIN)/autobot demo

test: $(STAMP) system-deps
	$(BIN)/python -m pytest

# the long SIGKILL drill (tests/test_live_crash.py; `make test` runs a short one): DRILL_ROUNDS rounds of kills
# over the bot's whole life, every restart checked by value; DRILL_SEED draws other kill moments
DRILL_ROUNDS ?= 60
.PHONY: drill
drill: $(STAMP)
	AUTOBOT_DRILL_ROUNDS=$(DRILL_ROUNDS) $(if $(DRILL_SEED),AUTOBOT_DRILL_SEED=$(DRILL_SEED)) \
	  $(BIN)/python -m pytest tests/test_live_crash.py -k drill -p no:cacheprovider --timeout $$(( $(DRILL_ROUNDS) * 20 + 600 ))

bench: $(STAMP)
	$(BIN)/python bench/indicators.py
	$(BIN)/python bench/backtest.py
	$(BIN)/python bench/live.py

# mutation testing of the money path (not part of `test`): scores per module into docs/mutation-scores.md;
# MUTATE_ARGS passes options on, e.g. MUTATE_ARGS="--jobs 2 autobot_lib/live/safety.py"
mutate: $(STAMP)
	$(BIN)/python tools/mutate.py $(MUTATE_ARGS)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $$([ "$$(id -u)" = 0 ] && echo --allow-root)

clean:
	rm -rf $(VENV) .pytest_cache reports
