# The project's two commands: `make run` (install + serve on SQLite) and `make test` (install +
# full check: lint, types, the docs build, the suite on this host's Python and on Python 3.13).
# Everything installs into ./.venv from the pinned files in requirements/; nothing relies on the system Python.

# The newest of the supported Pythons on PATH that actually runs (a pyenv shim of a version
# that is not selected is on PATH but fails); `make PYTHON=/path/to/python3.x` picks another.
SUPPORTED_PYTHONS := python3.13 python3.12 python3.11
ifndef PYTHON
PYTHON := $(firstword $(foreach p,$(SUPPORTED_PYTHONS),$(shell $(p) -c 'print("$(p)")' 2>/dev/null)))
endif
VENV   ?= .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
STAMP  := $(VENV)/.installed

HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: install requirements python run test docs pytest-debian13 lint typecheck pytest spec bench clean browser lambda-venv lambda-package dynalite compose ui-screenshot postgres

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "kvstore needs python3.13, python3.12 or python3.11 on PATH, or make PYTHON=..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.9

$(STAMP): $(BIN)/python requirements/base.txt requirements/dev.txt pyproject.toml
	$(UV) pip install --quiet --python $(BIN)/python -r requirements/dev.txt -e .
	touch $(STAMP)

install: $(STAMP)

# Which interpreter the targets use (tests/test_makefile.py checks the choice).
python:
	@echo $(PYTHON)

# The pins, compiled from pyproject.toml's dependencies and groups (never edited by hand): the
# runtime with the postgres extra (the container image installs these), the test tools, and
# the Lambda package's (no extra: no database driver in the zip).
COMPILE := $(UV) pip compile --quiet --universal --python-version 3.11 pyproject.toml \
	--custom-compile-command "make requirements"

requirements: $(BIN)/python
	$(COMPILE) --extra postgres -o requirements/base.txt
	$(COMPILE) --group dev -c requirements/base.txt -o requirements/dev.txt
	$(UV) pip compile --quiet pyproject.toml --group lambda -c requirements/dev.txt \
		--python-version 3.13 --python-platform x86_64-manylinux2014 \
		--custom-compile-command "make requirements" -o requirements/lambda.txt

run: install
	$(BIN)/kvstore serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# The tools the tests and the benchmark take from Debian's packages, each installed only when
# missing and only as root where apt-get exists; elsewhere the target says why and skips (or
# fails, where nothing can run without the tool).
# $(call apt_install,TEST,PACKAGE,WHAT FOR,OTHERWISE): TEST succeeds when the tool is there;
# OTHERWISE is the shell command run when it can be neither found nor installed.
define apt_install
@if $(1); then :; \
elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	echo "installing Debian's $(2) for $(3)"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq && apt-get install -y -qq $(2) >/dev/null; \
else \
	$(4); \
fi
endef

# Debian's Chromium for tests/test_docs_browser.py; without it the browser test skips.
browser:
	$(call apt_install,[ -x /usr/bin/chromium ],chromium,the browser test,\
		echo "chromium is missing and cannot be installed here: the browser test will skip")

# dynalite, the Node DynamoDB server tests/dynamodb_servers.py starts, pinned by package-lock.json.
NODE_STAMP := node_modules/.installed

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

dynalite: $(NODE_STAMP)

# Debian's docker-compose validates docker-compose.yml (`docker-compose config -q`, no engine
# needed) in tests/test_docker_compose.py; installed only when missing, as for chromium.
compose:
	$(call apt_install,command -v docker-compose >/dev/null 2>&1,docker-compose,the compose file test,\
		echo "docker-compose is missing and cannot be installed here: its test will skip")

# Debian's PostgreSQL server programs (initdb, pg_ctl, postgres) for the tests and the benchmark,
# which run their own servers in temporary folders (tests/postgres_servers.py); installed only
# when missing, as for chromium. Debian keeps them in /usr/lib/postgresql/<version>/bin.
PG_CTL_FOUND := command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1
postgres:
	$(call apt_install,$(PG_CTL_FOUND),postgresql,the PostgreSQL datastore's tests,\
		echo "PostgreSQL is missing and cannot be installed here: its tests will skip")

# The suite runs on every core (pytest-xdist): its tests wait on servers and processes as much
# as they compute. PYTEST_WORKERS=0 runs it in this process only.
PYTEST_WORKERS ?= auto
pytest: install browser dynalite compose postgres
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS)

# The suite again on Debian 13's Python 3.13, in a root scripts/debian13 builds and caches
# (as root; elsewhere it prints why and skips this leg).
pytest-debian13:
	scripts/debian13 test

# The documentation site (mkdocs.yml, docs/): strict, so a broken link or a page left out of
# the navigation fails the build.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir $(CURDIR)/site

test: lint typecheck docs pytest pytest-debian13

spec: install
	$(BIN)/kvstore spec --output swagger.yaml

# docs/ui.png, the README's picture of the data browser, taken in Debian's Chromium.
ui-screenshot: install browser
	$(BIN)/python -m tests.ui_screenshot docs/ui.png

# The benchmark (docs/performance.md): a few minutes, loopback only, leaves no process behind.
# wrk and etcd (the reference rows' etcd-server) come from Debian's packages, installed when
# missing; without etcd the reference rows skip it. BENCH_ARGS passes options, e.g. --quick.
bench: install
	$(call apt_install,command -v wrk >/dev/null 2>&1,wrk,the benchmark,\
		echo "make bench needs wrk: apt-get install wrk (as root)" >&2; exit 1)
	$(call apt_install,command -v etcd >/dev/null 2>&1,etcd-server,the benchmark's reference rows,\
		echo "etcd is missing and cannot be installed here: its reference row will skip")
	$(BIN)/python -m bench $(BENCH_ARGS)

# AWS Lambda (README "Deploy to AWS"). Zappa zips the whole environment it runs from, so it
# runs from a lean one of its own: the runtime requirements plus Zappa, as manylinux2014 x86_64
# wheels, never the dev tools of .venv. The zip is built by the interpreter of Lambda's runtime
# (zappa_settings.json's "runtime"), whose bytecode it carries: on a host without that Python,
# inside the Debian 13 root of scripts/debian13, whose Python is the runtime's.
LAMBDA_PYTHON := $(shell sed -n 's/.*"runtime": *"\(python3\.[0-9]*\)".*/\1/p' zappa_settings.json | head -1)
LAMBDA_VENV   := $(VENV)-lambda
LAMBDA_STAMP  := $(LAMBDA_VENV)/.installed
STAGE         ?= dev
LAMBDA_ZIP    ?= dist/kvstore-$(STAGE).zip

$(LAMBDA_STAMP): requirements/lambda.txt | $(STAMP)
	rm -rf $(LAMBDA_VENV)
	$(UV) venv --quiet --python $(LAMBDA_PYTHON) $(LAMBDA_VENV)
	$(UV) pip install --quiet --python $(LAMBDA_VENV)/bin/python \
		--python-platform x86_64-manylinux2014 -r requirements/lambda.txt
	touch $@

lambda-venv: $(LAMBDA_STAMP)

ifeq ($(shell $(LAMBDA_PYTHON) -c 'print("yes")' 2>/dev/null),yes)
# Builds the zip to deploy (`zappa deploy $(STAGE) --zip $(LAMBDA_ZIP)`), offline, with bytecode
# Lambda can use as is (deploy/bytecode.py says why): `make lambda-package STAGE=prod`.
lambda-package: $(LAMBDA_STAMP)
	mkdir -p $(dir $(LAMBDA_ZIP))
	VIRTUAL_ENV=$(abspath $(LAMBDA_VENV)) PYTHONWARNINGS=ignore::UserWarning:_distutils_hack \
		$(LAMBDA_VENV)/bin/zappa package $(STAGE) --output $(LAMBDA_ZIP)
	$(LAMBDA_VENV)/bin/python deploy/bytecode.py $(LAMBDA_ZIP)
else
# No $(LAMBDA_PYTHON) here: the same target, run in the Debian 13 root (as root), into dist/.
LAMBDA_BUILD := dist/.kvstore-$(STAGE)-build.zip
lambda-package:
	@echo "no $(LAMBDA_PYTHON) on this host: building the package in the Debian 13 root"
	mkdir -p dist $(dir $(LAMBDA_ZIP))
	scripts/debian13 run make -s STAGE=$(STAGE) LAMBDA_ZIP=$(LAMBDA_BUILD) lambda-package
	mv $(LAMBDA_BUILD) $(LAMBDA_ZIP)
endif

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(LAMBDA_VENV)
