# The main job: a local sandbox cluster deployed by site.yml over SSH from
# an offline bundle built here.

SANDBOX_INVENTORY ?= $(ROOT)/build/sandbox/hosts.yml
ANSIBLE_ARGS ?=

.PHONY: bundle
bundle: venv ## build the offline bundle from source into files/bundle (cached in ~/.cache/airgap-k8s)
	$(PY) tools/bundle/build_from_source.py --out $(BUNDLE_DIR)

.PHONY: sandbox
sandbox: bundle sandbox-up ## the main job: bundle, 3 podman hosts, site.yml over SSH, then `kubectl get nodes`
	$(BIN)/ansible-playbook -i $(SANDBOX_INVENTORY) playbooks/site.yml $(ANSIBLE_ARGS)
	@echo
	@$(BUNDLE_DIR)/kubernetes/*/amd64/kubectl --kubeconfig $(ROOT)/build/sandbox/cluster/admin.conf get nodes -o wide
	@echo
	@echo "Admin kubeconfig: export KUBECONFIG=$(ROOT)/build/sandbox/cluster/admin.conf"
	@echo "kubectl from the bundle: $$(ls $(BUNDLE_DIR)/kubernetes/*/amd64/kubectl | head -1)"
	@echo "Remove the sandbox: make sandbox-down"

BENCHMARK_ARGS ?=

.PHONY: benchmark
benchmark: venv bundle sandbox-image ## median of 3: fresh 3-node site.yml, no-change re-run, HA, add a worker (docs/benchmarks.md)
	BUNDLE_DIR=$(BUNDLE_DIR) $(PY) tools/benchmark.py $(BENCHMARK_ARGS)
