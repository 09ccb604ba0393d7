# Test targets. `make test` runs every one of them; each also runs alone.

PYTEST_ARGS ?= -q
BUILD := $(ROOT)/build
SANITY_ROOT := $(BUILD)/ansible_collections/airgap/k8s

# `make test` runs the checks before the end-to-end run in TEST_LANES jobs
# side by side, then the end-to-end run alone: it is the one that measures
# availability, so nothing else runs beside it. Lane 1 (lint, sanity, unit)
# needs no bundle, so on a cold machine it runs while the bundle, the node
# image and kube-bench are built; integration and the molecule lanes start
# once what they need is there. Each lane runs its targets one after
# another; outputs are printed target by target. This make builds the
# shared prerequisites once; inside the lanes (ONCE_DONE=1) the targets do
# not rebuild them, so two lanes never build them at the same time.
# TEST_LANES=1 runs everything one after another.
TEST_LANES ?= 3
TEST_LANE_1 ?= lint sanity unit
TEST_LANE_4 ?= integration
# etcd_backup is the longest molecule scenario: a lane of its own.
TEST_LANE_2 ?= molecule-test SCENARIO="$(filter-out etcd_backup,$(MOLECULE_SCENARIOS))"
TEST_LANE_3 ?= molecule-test SCENARIO="$(filter etcd_backup,$(MOLECULE_SCENARIOS))"
LANE := $(MAKE) --no-print-directory -j1 ONCE_DONE=1

TEST_LANE_TARGETS := test-lane-1 test-lane-4 test-lane-2 test-lane-3

.PHONY: test test-checks $(TEST_LANE_TARGETS)
test: prereqs venv ## every test: lint, sanity, unit, integration, molecule (side by side, beside the bundle build), then end to end
	$(MAKE) --no-print-directory -j$(TEST_LANES) --output-sync=target test-checks
	$(MAKE) --no-print-directory ONCE_DONE=1 e2e

test-checks: $(TEST_LANE_TARGETS) kube-bench

# What each lane needs before it starts; lane 1 needs nothing built.
test-lane-4: bundle
test-lane-2 test-lane-3: bundle sandbox-image

$(TEST_LANE_TARGETS): test-lane-%:
	@start=$$(date +%s); $(LANE) $(TEST_LANE_$*); echo "=== lane $* passed in $$(( $$(date +%s) - start ))s"

.PHONY: check
check: lint unit sanity ## the inner loop (a few minutes): lint, unit tests, ansible-test sanity

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
integration: venv $(call once,bundle) ## pytest integration tests (bundlers, PKI interop, the bundle's binaries) against loopback servers
	BUNDLE_DIR=$(BUNDLE_DIR) $(BIN)/pytest $(PYTEST_ARGS) tests/integration

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
molecule: venv $(call once,bundle) molecule-test ## molecule scenarios against podman hosts

# One sealed sandbox, deployed once at the test versions set `previous`,
# every end-to-end check in a fixed order (docs/testing.md): install, the
# security and CIS checks, idempotence, drift, reboot, HA, the upgrade to the
# defaults, then the day-2 modules (add, backup/restore, controller state,
# certificates, remove, reset). E2E_SANDBOX_NAME/E2E_SUBNET pick another
# sandbox, E2E_KEEP=1 keeps it, E2E_REUSE=1 runs against a kept one.
.PHONY: e2e
e2e: venv $(call once,bundle sandbox-image kube-bench) ## end to end: the lifecycle sandbox (3 control planes, a containerd and a Docker worker, two spares), the whole lifecycle in order
	BUNDLE_DIR=$(BUNDLE_DIR) E2E_VERSIONS=previous $(BIN)/pytest $(PYTEST_ARGS) tests/e2e

# The inner loop for the end-to-end checks: the same sandbox at the default
# versions, without the upgrade and the day-2 modules (about a third of the time).
.PHONY: e2e-short
e2e-short: venv $(call once,bundle sandbox-image kube-bench) ## the lifecycle run without the upgrade and the day-2 modules (faster)
	BUNDLE_DIR=$(BUNDLE_DIR) $(BIN)/pytest $(PYTEST_ARGS) -m "not upgrade and not day2" tests/e2e

# A test tool (tests/e2e/test_45_cis.py), never shipped to nodes: its pins are
# in tools/cis/versions.env, not in the versions table.
.PHONY: kube-bench
kube-bench: ## build kube-bench and gojq (as jq) for the CIS audit, cached in ~/.cache/airgap-k8s/tools
	CACHE_DIR=$(CACHE_DIR) $(ROOT)/tools/cis/build.sh

# Kept for old command lines: the same as `make e2e`.
.PHONY: e2e-day2
e2e-day2: e2e ## the same as `make e2e` (the whole lifecycle run)

.PHONY: e2e-compact
e2e-compact: venv $(call once,bundle sandbox-image) ## nightly, not in `make test`: the same checks on `make sandbox`'s shape (one control plane, etcd on workers)
	BUNDLE_DIR=$(BUNDLE_DIR) E2E_SHAPE=compact $(BIN)/pytest $(PYTEST_ARGS) -m "not ha" tests/e2e

# The lifecycle run through the upgrade (test_58: deployed at the test
# versions set previous, upgraded to the defaults), without the day-2 modules.
.PHONY: e2e-upgrade
e2e-upgrade: venv $(call once,bundle sandbox-image kube-bench) ## the lifecycle run through the upgrade, without the day-2 modules
	BUNDLE_DIR=$(BUNDLE_DIR) E2E_VERSIONS=previous $(BIN)/pytest $(PYTEST_ARGS) -m "not day2" tests/e2e
