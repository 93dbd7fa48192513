# wangge developer commands. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# pip runs again only when pyproject.toml is newer than this stamp.
STAMP := $(VENV)/.wangge-installed
PORT ?= 8000

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

lint: venv ## ruff check, ruff format --check, mypy and deptry (imports match pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/deptry .

test: venv ## test-setup, lint, then pytest on 2 workers (one test file per worker at a time)
	bash scripts/test-setup.sh
	bash scripts/ensure-npm.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/deptry .
	$(BIN)/pytest -n 2 --dist loadfile

demo: venv ## partition the Shanghai sample, publish it with 示例 staff and addresses, serve map + API on :8000
	bash scripts/ensure-npm.sh
	mkdir -p out
	$(BIN)/wangge partition data/shanghai_bund.gpkg --seed 1 --code-scheme stats12 \
		--out out/shanghai_plan.gpkg --map out/shanghai_plan.html
	$(BIN)/wangge publish out/shanghai_plan.gpkg --store out/wangge-plans.gpkg \
		--units data/shanghai_bund.gpkg --units-layer boundary \
		--author demo --note "Shanghai sample, demonstration boundaries"
	# SYNTHETIC sample addresses and staff roster (示例; see data/README.md)
	$(BIN)/wangge addresses import data/shanghai_bund_addresses_sample.csv \
		--store out/wangge-plans.gpkg --replace
	$(BIN)/wangge staff import data/shanghai_bund_staff_sample.csv \
		--store out/wangge-plans.gpkg --replace
	@echo "map: http://127.0.0.1:$(PORT)/map   docs: http://127.0.0.1:$(PORT)/docs   lookup: http://127.0.0.1:$(PORT)/lookup?lon=121.48452&lat=31.24946"
	@echo "try the address search with 上海市黄浦区四川中路21号 (or 四川中路21號)"
	$(BIN)/wangge serve --store out/wangge-plans.gpkg --basemap data/shanghai_bund.gpkg \
		--port $(PORT)

clean: ## remove out/ and tool caches (keeps .venv)
	rm -rf out .pytest_cache .mypy_cache .ruff_cache
