# airgap.k8s: the two commands are `make sandbox` (the main job on the
# embedded default) and `make test` (every test). See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV ?= $(ROOT)/.venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/airgap-k8s
BUNDLE_DIR ?= $(ROOT)/files/bundle
export PATH := $(BIN):$(PATH)
export CONTAINERS_CONF := $(ROOT)/tools/sandbox/containers.conf
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg

COLLECTION_LINK := $(ROOT)/.collections/ansible_collections/airgap/k8s
VENV_STAMP := $(VENV)/.stamp

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# Seconds, and first: nothing heavy starts on a machine that lacks them.
.PHONY: prereqs
prereqs: ## check the Debian packages of requirements/debian.txt (installs them when run as root)
	@$(ROOT)/tools/prereqs.sh

$(VENV_STAMP): requirements/runtime.txt requirements/test.txt | prereqs
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/test.txt
	touch $@

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../.. $@

.PHONY: venv
venv: $(VENV_STAMP) $(COLLECTION_LINK) ## project-local virtualenv with the pinned tools

# $(call once,TARGETS): TARGETS, except inside `make test`'s lanes, which
# find them built (mk/test.mk).
once = $(if $(ONCE_DONE),,$(1))

include mk/*.mk
