# Switchboard: two commands on a fresh machine.
#   make test   venv + system packages + Asterisk lab + PostgreSQL check, then
#               ruff, mypy --strict and all three test tiers
#   make demo   lab Asterisk + daemon + sample SIP calls with sipp, each call's path printed
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
LAB := deploy/lab/lab.sh
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: test demo bench bench-load faults lint unit adapter e2e venv sysdeps prompts lab pg lab-stop clean

test: venv lab pg lint
	$(PY) -m pytest

unit: venv
	$(PY) -m pytest tests/unit

adapter: venv sysdeps pg  # (sysdeps: chromium for the pages test)
	$(PY) -m pytest tests/adapter

e2e: venv lab
	$(PY) -m pytest tests/e2e

lint: venv
	$(VENV)/bin/ruff check src tests bench deploy
	$(VENV)/bin/ruff format --check src tests bench deploy
	$(VENV)/bin/mypy

demo: venv lab pg
	$(PY) deploy/lab/demo.py

# The fault campaign (docs/reliability.md): calls in progress while the daemon is killed,
# frozen, cut from ARI, PostgreSQL/Asterisk/SMTP restarted, the spool disk full. Run it
# under the lab lock; shorter: make faults FAULTS_ARGS="--only kill,relay --rate 3".
FAULTS_ARGS ?=
faults: venv lab pg
	$(PY) deploy/lab/faults.py $(FAULTS_ARGS)

bench: venv pg
	$(PY) bench/bench_first_command.py
	$(PY) bench/bench_flows.py
	$(PY) bench/bench_import.py
	$(PY) bench/bench_routing.py
	$(PY) bench/bench_agi.py
	$(PY) bench/bench_stats.py

# The load bench on the real lab Asterisk (not part of `make test`; takes /tmp/lab.lock
# for the lab part, about 8 minutes). Quick: BENCH_LOAD_SECONDS=10 BENCH_LOAD_RATES=20
bench-load: venv lab pg
	$(PY) bench/bench_load.py

venv: $(STAMP)
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

sysdeps:
	$(LAB) deps

prompts: sysdeps
	prompts/build.sh

lab: sysdeps prompts
	$(LAB) build

pg:
	deploy/lab/pg.sh

lab-stop:
	$(LAB) stop

clean:
	rm -rf build artifacts .pytest_cache .mypy_cache .ruff_cache
