# Sandbox of SSH test hosts and the molecule scenarios (docs/sandbox.md).
# Included by the top-level Makefile; every setting is an environment or make
# variable: NODES, SUBNET, HA, SANDBOX_NAME, SANDBOX_USER, SANDBOX_DIR,
# SANDBOX_TIMEOUT, BUNDLE_DIR, RECREATE=1, SCENARIO.

ROOT ?= $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
VENV ?= $(ROOT)/.venv
PY ?= $(VENV)/bin/python
CONTAINERS_CONF ?= $(ROOT)/tools/sandbox/containers.conf
export CONTAINERS_CONF

SANDBOX_PY := $(PY) $(ROOT)/tools/sandbox/sandbox.py
# The image tag is a hash of the recipe; computing it is cheap (no podman).
AIRGAP_NODE_IMAGE ?= $(shell $(ROOT)/tools/sandbox/image.sh --ref)
export AIRGAP_NODE_IMAGE
# Scenarios live in molecule/ (molecule 26 would look in extensions/molecule
# for a collection); shared/ holds the playbooks every scenario uses.
MOLECULE_SKIP ?= shared
MOLECULE_SCENARIOS ?= $(filter-out $(MOLECULE_SKIP),$(notdir $(patsubst %/molecule.yml,%,$(wildcard $(ROOT)/molecule/*/molecule.yml))))
SCENARIO ?= $(MOLECULE_SCENARIOS)

.PHONY: sandbox-image sandbox-up sandbox-down sandbox-inventory sandbox-status molecule-test

sandbox-image: prereqs ## build the node image (debootstrap, cached by recipe hash)
	$(ROOT)/tools/sandbox/image.sh

sandbox-up: sandbox-image ## start NODES (default 3) SSH test hosts and write build/sandbox/hosts.yml
	$(SANDBOX_PY) up --image $(AIRGAP_NODE_IMAGE) $(if $(filter 1,$(RECREATE)),--recreate) $(if $(BUNDLE_DIR),--bundle-dir $(BUNDLE_DIR))

sandbox-down: ## remove the sandbox's containers, volumes and network
	$(SANDBOX_PY) down

sandbox-inventory: ## rewrite build/sandbox/hosts.yml from the running nodes
	$(SANDBOX_PY) inventory --image $(AIRGAP_NODE_IMAGE) $(if $(BUNDLE_DIR),--bundle-dir $(BUNDLE_DIR))

sandbox-status: ## show the sandbox nodes
	$(SANDBOX_PY) status --image $(AIRGAP_NODE_IMAGE)

molecule-test: $(call once,sandbox-image) ## molecule test for every scenario in molecule/ (or SCENARIO=name)
	@cd $(ROOT) && failed=""; \
	for s in $(SCENARIO); do \
	  echo "=== molecule test -s $$s"; \
	  start=$$(date +%s); \
	  if PATH="$(VENV)/bin:$$PATH" MOLECULE_GLOB='molecule/*/molecule.yml' $(VENV)/bin/molecule test -s $$s; \
	  then echo "=== $$s passed in $$(( $$(date +%s) - start ))s"; \
	  else echo "=== $$s FAILED"; failed="$$failed $$s"; fi; \
	done; \
	if [ -n "$$failed" ]; then echo "molecule: failed:$$failed"; exit 1; fi
