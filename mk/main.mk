# The main job: a local sandbox cluster deployed by site.yml over SSH from
# an offline bundle built here.

SANDBOX_INVENTORY ?= $(ROOT)/build/sandbox/hosts.yml
# The bundle's kubectl of the version the sandbox inventory installs (the
# bundle may hold two Kubernetes versions); evaluated after site.yml ran.
SANDBOX_KUBECTL = $(BUNDLE_DIR)/kubernetes/$$(sed -n 's/^kube_version: "\(.*\)"$$/\1/p' $(ROOT)/build/sandbox/group_vars/all.yml)/amd64/kubectl
ANSIBLE_ARGS ?=

# The test bundle: the defaults plus each component's test_versions (the
# older versions the upgrade tests deploy first; docs/bundle.md).
BUNDLE_ARGS ?= --test-versions

.PHONY: bundle
bundle: venv ## build the test bundle from source into files/bundle (cached in ~/.cache/airgap-k8s)
	$(PY) tools/bundle/build_from_source.py --out $(BUNDLE_DIR) $(BUNDLE_ARGS)

.PHONY: sandbox
sandbox: bundle sandbox-up ## the main job: bundle, 3 podman hosts, site.yml over SSH, then `kubectl get nodes`
	$(BIN)/ansible-playbook -i $(SANDBOX_INVENTORY) playbooks/site.yml $(ANSIBLE_ARGS)
	@echo
	@$(SANDBOX_KUBECTL) --kubeconfig $(ROOT)/build/sandbox/cluster/admin.conf get nodes -o wide
	@echo
	@echo "Admin kubeconfig: export KUBECONFIG=$(ROOT)/build/sandbox/cluster/admin.conf"
	@echo "kubectl from the bundle: $(SANDBOX_KUBECTL)"
	@echo "Remove the sandbox: make sandbox-down"

.PHONY: benchmark
benchmark: venv bundle sandbox-image ## time site.yml on a fresh 3-node sandbox (docs/benchmarks.md)
	$(PY) tools/benchmark.py
