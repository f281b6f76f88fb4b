# synctool: the two commands of the README, and the tools around them.
#
#   make demo    build the example "production" site, serve it, sync it into
#                the example "local" project, print the summary
#   make test    the test suite on SQLite, then PostgreSQL and MariaDB when
#                they are reachable (REQUIRE_ALL_DBS=1: unreachable is a failure)
#   make lint    ruff check + ruff format --check
#   make docs    the Sphinx documentation, warnings are errors
#   make bench   the benchmarks (benchmarks/run.py)
#
# Variables:
#   PYTHON           the interpreter the virtualenv is made from (python3)
#   VENV             the virtualenv directory (.venv)
#   DJANGO           a requirement pinning Django, e.g. DJANGO='Django>=6,<7'
#   REQUIRE_ALL_DBS  1: an unreachable PostgreSQL or MariaDB fails the run
#   BACKENDS         the databases to try, in order (sqlite postgres mysql)
#   TEST_JOBS        backends tested at once (1: one after the other)
#   PYTEST_ARGS      extra arguments for pytest, e.g. PYTEST_ARGS='-k client -x'
#   BENCH_ARGS       arguments for benchmarks/run.py, e.g. BENCH_ARGS="--rows 200000"

PYTHON ?= python3
VENV ?= .venv
DJANGO ?=
REQUIRE_ALL_DBS ?= 0
BACKENDS ?= sqlite postgres mysql
PYTEST_ARGS ?=
BENCH_ARGS ?=
TEST_JOBS ?= 1

PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# What an install depends on: the packaging files and the Django pin. When it
# changes, the next target that needs the virtualenv installs again.
INSTALL_KEY = $(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)-$(DJANGO)

.PHONY: demo test lint docs bench venv clean help

help:
	@sed -n '2,/^$$/p' Makefile | sed 's/^# \{0,1\}//'

venv: $(PY)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# $(call install,EXTRAS): pip install -e ".[EXTRAS]" (plus the Django pin),
# skipped when the virtualenv already has it for the current INSTALL_KEY.
define install
	@stamp="$(VENV)/.synctool-installed-$(subst $(comma),-,$(1))"; \
	if [ "$$(cat "$$stamp" 2>/dev/null)" != "$(INSTALL_KEY)" ]; then \
		echo "Installing synctool[$(1)] $(DJANGO) into $(VENV)"; \
		$(PIP) install --quiet -e ".[$(1)]" $(if $(DJANGO),"$(DJANGO)") \
			&& echo "$(INSTALL_KEY)" > "$$stamp"; \
	fi
endef
comma := ,

demo: $(PY)
	$(call install,demo)
	$(PY) example/demo.py

# mysqlclient is compiled against libmariadb/libmysqlclient, and only when
# BACKENDS has mysql: when it cannot be built here, the MariaDB run is skipped
# (or fails with REQUIRE_ALL_DBS=1) and scripts/runtests.py says why.
test: $(PY)
	$(call install,test)
	@if echo " $(BACKENDS) " | grep -q " mysql " && ! $(PY) -c "import MySQLdb" 2>/dev/null; then \
		echo "Installing mysqlclient (for the MariaDB run)"; \
		$(PIP) install --quiet "mysqlclient>=2.2" > "$(VENV)/mysqlclient-build.log" 2>&1 \
			|| echo "mysqlclient could not be built (log: $(VENV)/mysqlclient-build.log)"; \
	fi
	REQUIRE_ALL_DBS=$(REQUIRE_ALL_DBS) TEST_JOBS=$(TEST_JOBS) $(PY) scripts/runtests.py $(BACKENDS) -- $(PYTEST_ARGS)

lint: $(PY)
	$(call install,test)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

docs: $(PY)
	$(call install,docs)
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	@echo "The documentation is in docs/_build/html/index.html"

bench: $(PY)
	@if [ -f benchmarks/run.py ]; then \
		$(MAKE) --no-print-directory test-deps && $(PY) benchmarks/run.py $(BENCH_ARGS); \
	else \
		echo "benchmarks/run.py is not there yet: no benchmarks to run."; \
	fi

.PHONY: test-deps
test-deps: $(PY)
	$(call install,test)

clean:
	rm -rf docs/_build example/var build dist *.egg-info
