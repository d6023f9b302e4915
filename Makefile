# Two commands for a newcomer: `make run` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1

.PHONY: run test test-fast install lock lint typecheck check-migrations schema fuzz screenshots messages

# Installs exactly the locked versions (hashes checked); requirements*.txt name what we depend on, `make lock` pins
# everything they pull in.
$(VENV)/.installed: requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.lock
	touch $@

install: $(VENV)/.installed

PIP_COMPILE = $(VENV)/bin/pip-compile --quiet --strip-extras --generate-hashes --allow-unsafe \
	--no-emit-index-url --no-emit-find-links

# Rewrite the lock files after a change to requirements*.txt (crm/tests/test_dependencies.py fails until then).
lock: install
	$(PIP_COMPILE) --output-file requirements.lock requirements.txt
	$(PIP_COMPILE) --constraint requirements.lock --output-file requirements-dev.lock requirements-dev.txt

# A laptop secret made once and kept inside .venv, so tokens survive restarts of `make run`.
$(VENV)/.secret_key: | $(VENV)/.installed
	$(PY) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

LOCAL_ENV = DEBUG=$${DEBUG:-0} SECRET_KEY="$${SECRET_KEY:-$$(cat $(VENV)/.secret_key)}"

# Laptop quick start: SQLite, in-process events, demo data, the ASGI server on http://127.0.0.1:8000, and the
# background worker beside it (its queue is a SQLite file: no Redis needed), stopped with the server.
run: install $(VENV)/.secret_key
	$(LOCAL_ENV) $(PY) manage.py migrate --noinput
	$(LOCAL_ENV) $(PY) manage.py demo_data
	@echo "API docs: http://$(HOST):$(PORT)/docs   Admin: http://$(HOST):$(PORT)/admin/"
	$(LOCAL_ENV) $(PY) manage.py run_worker & worker=$$!; trap 'kill $$worker' EXIT INT TERM; \
		$(LOCAL_ENV) $(PY) -m crm.serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

# The whole suite. SQLite by default; DATABASE_URL=postgres://… and REDIS_URL=redis://… for the real services.
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# The inner loop: no live servers or browsers, and the test database kept between runs (`make test` builds it anew,
# so a switched branch's migrations never meet a stale schema).
test-fast: install
	$(PY) -m pytest -m "not e2e and not browser" --reuse-db $(PYTEST_ARGS)

# The long schemathesis run (crm/tests/test_fuzz.py) against a live server; needs DATABASE_URL=postgres://…
fuzz: install
	FUZZ_MAX_EXAMPLES=$${FUZZ_MAX_EXAMPLES:-200} FUZZ_RANDOM=1 FUZZ_PHASES=examples,coverage,fuzzing \
		$(PY) -m pytest crm/tests/test_fuzz.py $(PYTEST_ARGS)

# Rewrite the README's back-office screenshots (docs/*.png) from the browser tests; needs chromium and PostgreSQL.
screenshots: install
	UPDATE_SCREENSHOTS=1 $(PY) -m pytest crm/tests/test_browser_board.py -k "dashboard_shows_the_charts or board_screenshot" $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# mypy with django-stubs and djangorestframework-stubs over the apps (settings in pyproject.toml); the cache in
# .mypy_cache keeps a second run quick.
typecheck: install
	$(PY) -m mypy

# The back-office's strings: refresh locale/*/django.po from the code, then compile the .mo files (committed; needs
# GNU gettext). crm/tests/test_i18n.py fails when a committed .mo is not its .po compiled.
messages: install
	DJANGO_SETTINGS_MODULE=crm.settings_test $(PY) manage.py makemessages -l ru -l en --no-location \
		--ignore=.venv --ignore=docs --ignore=bench --ignore=jobs
	DJANGO_SETTINGS_MODULE=crm.settings_test $(PY) manage.py compilemessages --ignore=.venv

check-migrations: install
	DJANGO_SETTINGS_MODULE=crm.settings_test $(PY) manage.py makemigrations --check --dry-run

schema: install
	DJANGO_SETTINGS_MODULE=crm.settings_test $(PY) manage.py spectacular --lang en --validate --fail-on-warn --file /dev/null
