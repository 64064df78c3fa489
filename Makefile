# GitOps Portal: `make run` (the product on embedded defaults, with demo data) and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000
CLUSTERS_PORT ?= 8001
GIT_HOST_PORT ?= 8004

# `make run` uses the embedded defaults: SQLite and clones under ./var, DEBUG on.
run check: export DEBUG ?= true

.PHONY: run test lint fmt check bench lock clean

# Development and tests use the dev lock (runtime + tools); the image installs requirements.lock only.
$(VENV)/.installed: requirements-dev.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.lock
	@touch $@

# Web, worker, beat and the demo's clusters run together (Procfile) and stop together on Ctrl-C.
# First `sandbox.makerun prepare` stops here if a port is taken (saying which, and how to pick another),
# then writes the demo's settings (data dir, catalogue, SECRET_KEY, the demo operators' receivers) to
# .env, which every process and `manage.py` in another terminal read at start-up.
run: $(VENV)/.installed
	@$(PY) -m sandbox.makerun prepare --host $(HOST) --port $(PORT) --clusters-port $(CLUSTERS_PORT) \
	  --git-host-port $(GIT_HOST_PORT)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo
	@echo "GitOps Portal on http://$(HOST):$(PORT)/ (sign in as alice, bob or carol: see above)"
	PORTAL_HOST=$(HOST) PORTAL_PORT=$(PORT) CLUSTERS_PORT=$(CLUSTERS_PORT) \
	  GITOPS_PORTAL_LIVE_REFRESH_SECONDS=$${GITOPS_PORTAL_LIVE_REFRESH_SECONDS:-5} $(PY) -m sandbox.makerun start

# axe-core for the accessibility checks of the browser tests (npm, pinned in package-lock.json).
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund

test: $(VENV)/.installed node_modules/.package-lock.json lint check
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports --no-cache

fmt: $(VENV)/.installed
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

check: $(VENV)/.installed
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

bench: $(VENV)/.installed
	$(PY) bench/bench_matrix.py
	$(PY) bench/bench_promote.py
	$(PY) bench/bench_live.py
	$(PY) bench/bench_api.py
	$(PY) bench/bench_metrics.py
	$(PY) bench/bench_sync.py
	$(PY) bench/bench_change.py
	$(PY) bench/bench_dashboard.py
	$(PY) bench/bench_api_load.py
	$(PY) bench/bench_webhook.py
	$(PY) bench/bench_browser.py
	$(PY) bench/bench_insights.py

# Re-pin after editing pyproject.toml: requirements.lock (runtime, for the image) and
# requirements-dev.lock (runtime + tools); existing pins are kept where they still fit.
lock:
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header \
	  --index-url https://pypi.org/simple -o requirements-dev.lock
	$(VENV)/bin/uv pip compile pyproject.toml --python-version 3.11 --no-header \
	  --index-url https://pypi.org/simple -o requirements.lock

clean:
	rm -rf $(VENV) var node_modules .pytest_cache .ruff_cache .mypy_cache
