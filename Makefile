# GitOps Portal: `make run` (the product on embedded defaults, with demo data) and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000

# `make run` uses the embedded defaults: SQLite and clones under ./var, DEBUG on.
run check: export DEBUG ?= true

.PHONY: run test lint fmt check bench lock clean

# Development and tests use the dev lock (runtime + tools); the image installs requirements.lock only.
$(VENV)/.installed: requirements-dev.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.lock
	@touch $@

# Web, worker and beat run together (Procfile) and stop together on Ctrl-C. Every process gets the
# demo operators' receiver URLs and secrets from receivers.env, which `manage.py demo` writes.
run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo
	@echo "GitOps Portal on http://$(HOST):$(PORT)/ (sign in as alice, bob or carol: see above)"
	PORTAL_HOST=$(HOST) PORTAL_PORT=$(PORT) GITOPS_PORTAL_LIVE_REFRESH_SECONDS=$${GITOPS_PORTAL_LIVE_REFRESH_SECONDS:-5} \
	  $(VENV)/bin/honcho start -f Procfile -e .env,$${GITOPS_PORTAL_DATA_DIR:-var}/demo/receivers.env

test: $(VENV)/.installed lint check
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

# Re-pin after editing pyproject.toml: requirements.lock (runtime, for the image) and
# requirements-dev.lock (runtime + tools); existing pins are kept where they still fit.
lock:
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header \
	  --index-url https://pypi.org/simple -o requirements-dev.lock
	$(VENV)/bin/uv pip compile pyproject.toml --python-version 3.11 --no-header \
	  --index-url https://pypi.org/simple -o requirements.lock

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
