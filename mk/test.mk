# Test targets. `make test` runs every one of them; each also runs alone.

PYTEST_ARGS ?= -q
BUILD := $(ROOT)/build
SANITY_ROOT := $(BUILD)/ansible_collections/airgap/k8s

.PHONY: test
test: lint sanity unit integration molecule e2e ## every test: lint, sanity, unit, integration, molecule, end to end

.PHONY: lint
lint: venv ## yamllint (strict), ansible-lint (production profile), ruff
	$(BIN)/yamllint --strict .
	$(BIN)/ruff check plugins tools tests
	$(BIN)/ruff format --check plugins tools tests
	$(BIN)/ansible-lint --profile production --offline

.PHONY: unit
unit: venv ## pytest unit tests for the plugins
	$(BIN)/pytest $(PYTEST_ARGS) tests/unit

.PHONY: integration
integration: venv bundle ## pytest integration tests (bundlers, PKI interop) against loopback servers
	$(BIN)/pytest $(PYTEST_ARGS) tests/integration

# ansible-test wants the collection under ansible_collections/<ns>/<name>;
# build and install the tarball there, which also proves it installs.
.PHONY: collection
collection: venv ## build the collection tarball and install it into build/
	rm -rf $(BUILD)/collection $(BUILD)/ansible_collections
	mkdir -p $(BUILD)/collection
	$(BIN)/ansible-galaxy collection build --force --output-path $(BUILD)/collection .
	$(BIN)/ansible-galaxy collection install --force --no-deps -p $(BUILD) $(BUILD)/collection/airgap-k8s-*.tar.gz

# ansible-test bootstraps pip in its venvs with a script from a server this
# network cannot reach; tools/ansible-test/get_pip.py does the same offline.
SANITY_SKIP ?= --skip-test shellcheck --skip-test pslint

.PHONY: sanity
sanity: collection ## ansible-test sanity on the installed collection (its own venvs, no container pulls)
	mkdir -p $(HOME)/.ansible/test/cache
	v=$$(grep -ho "pip='[0-9.]*'" $(VENV)/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | head -1 | tr -dc '0-9.' | tr . _); \
	  cp -f tools/ansible-test/get_pip.py $(HOME)/.ansible/test/cache/get_pip_$$v.py
	cd $(SANITY_ROOT) && git init -q . && git add -A >/dev/null && \
	  $(BIN)/ansible-test sanity --venv --requirements --python 3.11 $(SANITY_SKIP) $(SANITY_TESTS) plugins/

.PHONY: molecule
molecule: venv bundle molecule-test ## molecule scenarios against podman hosts

.PHONY: e2e
e2e: e2e-default e2e-ha e2e-day2 e2e-upgrade ## end to end: the 3-node sandbox, the HA sandbox, day-2 on the HA sandbox with spares, the upgrade

.PHONY: e2e-default
e2e-default: venv bundle sandbox-image ## end to end: site.yml over SSH onto a 3-node sandbox, then workload, etcd and idempotence checks
	BUNDLE_DIR=$(BUNDLE_DIR) $(BIN)/pytest $(PYTEST_ARGS) -m "not ha and not day2 and not upgrade" tests/e2e

.PHONY: e2e-ha
e2e-ha: venv bundle sandbox-image ## end to end: site.yml onto 3 control planes + 1 worker, then stop a control plane
	BUNDLE_DIR=$(BUNDLE_DIR) E2E_HA=1 E2E_NODES=4 $(BIN)/pytest $(PYTEST_ARGS) -m ha tests/e2e

# Until the lifecycle run (one HA sandbox for every end-to-end module) lands,
# the day-2 modules have a session of their own: 3 control planes, 1 worker
# and 2 spare hosts that the tests add and remove.
.PHONY: e2e-day2
e2e-day2: venv bundle sandbox-image ## end to end: add/remove nodes and reset on 3 control planes + 1 worker + 2 spares
	BUNDLE_DIR=$(BUNDLE_DIR) E2E_HA=1 E2E_NODES=6 E2E_SPARES=2 $(BIN)/pytest $(PYTEST_ARGS) -m day2 tests/e2e

# The upgrade: a 3-node sandbox deployed at the test versions set `previous`,
# then upgrade.yml to the defaults under a probed workload (docs/upgrade.md).
.PHONY: e2e-upgrade
e2e-upgrade: venv bundle sandbox-image ## end to end: deploy the previous versions, upgrade.yml to the defaults, refusals, rerun
	BUNDLE_DIR=$(BUNDLE_DIR) E2E_VERSIONS=previous $(BIN)/pytest $(PYTEST_ARGS) -m upgrade tests/e2e
