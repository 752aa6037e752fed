# rinha-rs: the two commands a new user needs are `make bench` and `make test`.
# The logic lives in tests/stack/stack.py (Python 3 standard library); this file only names the steps.
#
#   make up      [EMULATORS=1] [KEEP_STATE=1] [PURGE=1]   start the capped, supervised native stack on :9999
#   make down                                             stop it (idempotent)
#   make status                                           processes, restarts, cgroup counters
#   make bench   [SCHEDULE=published] [RUNS=1] [MAX_REQUESTS=550] [TIME_SCALE=1]
#   make test                                             fmt, clippy, tests, nix checks, shellcheck, end-to-end
#   make hostile / make soak [RATE=300] [DURATION=120]    hostile requests; constant-rate run with memory series
#   make deps                                             install redis, nginx, node, k6, PostgreSQL 17

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
CARGO ?= cargo
STACK := $(PYTHON) tests/stack/stack.py

# Command-line variables reach the runner through the environment.
export EMULATORS KEEP_STATE PURGE SCHEDULE RUNS MAX_REQUESTS TIME_SCALE

.PHONY: help deps build up down status bench test floor hostile soak

help:
	@sed -n '1,11p' Makefile | sed 's/^# \{0,1\}//'

deps:
	bash tests/tools/install-deps.sh

# `make up` on a fresh machine installs the tools once; afterwards it does not touch apt or the network.
target/tools/env.sh:
	bash tests/tools/install-deps.sh

# cargo decides what is stale; a fresh tree is a no-op.
build:
	$(CARGO) build --release --bins

up: target/tools/env.sh build
	$(STACK) up

down:
	$(STACK) down

status:
	$(STACK) status

# The floor alone (nginx answering constants under its cap), for poking at it by hand.
floor:
	$(STACK) up --floor

bench: deps build
	$(STACK) bench

test: deps
	$(STACK) test

hostile: deps build
	$(STACK) hostile

soak: deps build
	$(STACK) soak
