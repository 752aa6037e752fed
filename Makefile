# rinha-rs: the two commands a new user needs are `make bench` and `make test`.
# The logic lives in tests/stack/stack.py (Python 3 standard library); this file only names the steps.
# `make help` lists the targets from their `##` comments.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
CARGO ?= cargo
STACK := $(PYTHON) tests/stack/stack.py
# Written by the installer once everything `up`, `bench` and `test` run is present.
TOOLS_STAMP := target/tools/env.sh

# Command-line variables reach the runner through the environment.
export EMULATORS KEEP_STATE PURGE SCHEDULE RUNS MAX_REQUESTS TIME_SCALE BOUND LINKS WIRE

.PHONY: help deps tools build up down status bench test floor hops fresh-check hostile soak chaos

help: ## this list
	@echo 'make TARGET [VAR=value ...]'
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z-]*:.*## / { printf "  %-12s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

deps: ## (re)install redis, nginx, node, k6, PostgreSQL 17, shellcheck, tcpdump, the pinned Rust toolchain name
	bash tests/tools/install-deps.sh

# On a fresh machine the first `up`, `bench` or `test` installs the tools once; afterwards they do not
# touch apt or the network, unless the installer itself changed.
$(TOOLS_STAMP): tests/tools/install-deps.sh
	bash tests/tools/install-deps.sh

tools: $(TOOLS_STAMP) ## install what is missing, once (what .ci/run does first)

# cargo decides what is stale; a fresh tree is a no-op.
build: ## cargo build --release --bins (and the intake bound's stand-in when BOUND=intake)
	$(CARGO) build --release --bins $(if $(filter intake,$(BOUND)),--example bound_intake)

up: $(TOOLS_STAMP) build ## start the capped, supervised stack on :9999 [EMULATORS=1] [KEEP_STATE=1] [PURGE=1] [BOUND=1|intake: a bench bound instead] [LINKS=unix]
	$(STACK) up

down: ## stop it (idempotent)
	$(STACK) down

status: ## processes, restarts, cgroup counters
	$(STACK) status

floor: $(TOOLS_STAMP) ## the floor alone: nginx answering constants under its cap, for poking at by hand
	$(STACK) up --floor

hops: ## each hop's round trip and each service's CPU per request at idle, against a stack that is up (make up EMULATORS=1, or make floor) [SAME_CPU=N]; RATE=N [SECONDS=40]: CPU per payment at a constant rate instead
	$(PYTHON) tests/stack/hops.py $(if $(SAME_CPU),--same-cpu $(SAME_CPU)) $(if $(RATE),--rate $(RATE) --seconds $(or $(SECONDS),40))

bench: $(TOOLS_STAMP) build ## the benchmark and its table [SCHEDULE=published] [RUNS=1] [MAX_REQUESTS=550] [TIME_SCALE=1] [BOUND=1|intake] [WIRE=1]
	$(STACK) bench

test: $(TOOLS_STAMP) ## fmt, clippy, tests, nix checks, shellcheck, end-to-end; "make-test: N passed, M failed"
	$(STACK) test

hostile: $(TOOLS_STAMP) build ## hostile requests over raw sockets against a fresh stack; then valid POSTs must still pass
	$(STACK) hostile

soak: $(TOOLS_STAMP) build ## constant-rate POSTs, drain, lost/double counts and memory series [RATE=300] [DURATION=120]
	$(STACK) soak

chaos: $(TOOLS_STAMP) build ## fault plans (kill -9, SIGSTOP, AOF cut, hung processor) under load; one table [RATE=150]
	$(STACK) chaos

fresh-check: ## .ci/run in a fresh Debian 12 root made by debootstrap (slow; not part of CI) [FRESH_RUN='make bench': that instead]
	bash tests/tools/fresh-check.sh
