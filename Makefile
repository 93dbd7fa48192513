# wangge developer commands. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# pip runs again only when pyproject.toml is newer than this stamp.
STAMP := $(VENV)/.wangge-installed

.PHONY: help venv test test-setup lint demo clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

venv: $(STAMP) ## create .venv and pip install -e '.[test,bench]'

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "make: python3.11 or python3 not found on PATH" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -e '.[test,bench]'
	touch $@

test-setup: ## install system packages if missing and recreate the PostGIS test database
	bash scripts/test-setup.sh

lint: venv ## ruff check and mypy
	$(BIN)/ruff check .
	$(BIN)/mypy

test: venv ## test-setup, lint, then pytest (fails when no tests are collected)
	bash scripts/test-setup.sh
	bash scripts/ensure-npm.sh
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

demo: venv ## cut the Shanghai Bund sample into blocks: out/shanghai_blocks.{gpkg,html}
	mkdir -p out
	$(BIN)/wangge blocks data/shanghai_bund.gpkg \
		--out out/shanghai_blocks.gpkg --map out/shanghai_blocks.html

clean: ## remove out/ and tool caches (keeps .venv)
	rm -rf out .pytest_cache .mypy_cache .ruff_cache
