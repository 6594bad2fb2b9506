# Carnet developer entry points. `make run` and `make test` are the two commands of the README.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
# Links in e-mails and the login hint point at the address `make run` serves on.
export CARNET_BASE_URL ?= http://$(HOST):$(PORT)
PLUGINS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
STAMP := $(VENV)/.installed
HTMX := core/src/carnet_core/static/vendor/htmx.min.js

.PHONY: setup run test lint init demo serve clean messages mutation fuzz

setup: $(STAMP) $(HTMX)

$(STAMP): core/pyproject.toml workers/pyproject.toml $(wildcard plugins/*/pyproject.toml)
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e 'core[test]' -e workers $(addprefix -e ,$(PLUGINS))
	@touch $(STAMP)

# htmx comes from the npm registry at set-up and is served from our own origin.
$(HTMX): package.json
	npm install --no-audit --no-fund --silent
	@mkdir -p $(dir $(HTMX))
	cp node_modules/htmx.org/dist/htmx.min.js $(HTMX)

init: setup
	$(BIN)/carnet init

demo: init
	$(BIN)/carnet demo --if-empty

run: demo
	$(BIN)/carnet serve --host $(HOST) --port $(PORT)

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# Mutation testing of the security modules (docs/MUTATION.md): `make mutation TARGETS="scoping"`.
mutation: setup
	@$(BIN)/python -c "import mutmut" 2>/dev/null || $(BIN)/python -m pip install -q -e 'core[mutation]'
	$(BIN)/python scripts/mutation.py $(TARGETS)

# Schemathesis against a served demo clinic (every API operation, stateless and stateful).
fuzz: setup
	$(BIN)/python scripts/fuzz_api.py $(FUZZ_ARGS)

lint: setup
	$(BIN)/python -m ruff check .

clean:
	rm -rf $(VENV) node_modules var $(HTMX)

# Extract UI messages into the French catalogs (then translate the empty entries).
messages: setup
	$(BIN)/python scripts/i18n.py
