# Two commands on a fresh machine with Python 3.11+ and make:
#   make plan   set everything up, print the offline plan of the dev stack
#   make test   set everything up, run the whole test suite
# Everything is installed into this folder (.tools/ holds uv, .venv/ the project).

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
STAMP := $(VENV)/.synced-stamp
# Precompile bytecode: this environment sets PYTHONDONTWRITEBYTECODE=1, and without .pyc
# files every run of the plan is about 2x slower (docs/reference.md#pulumi).
export UV_COMPILE_BYTECODE := 1
export UV_PYTHON_DOWNLOADS := never

# checkov (Kubernetes checks of the EKS objects) pins boto3 and packaging versions the
# project cannot share: it gets its own environment (docs/reference.md#kubernetes-objects-eks-backend-offline-checks).
CHECKOV_VERSION := 3.3.30
CHECKOV_STAMP := .tools/checkov/.installed-$(CHECKOV_VERSION)

.PHONY: plan test setup system-tools checkov lint clean
.DEFAULT_GOAL := plan

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

setup: $(STAMP) ## install the project and its test tools into .venv

$(CHECKOV_STAMP): $(UV)
	$(UV) venv --quiet --allow-existing .tools/checkov --python $(PYTHON)
	$(UV) pip install --quiet --python .tools/checkov/bin/python checkov==$(CHECKOV_VERSION)
	@touch $@

checkov: $(CHECKOV_STAMP) ## checkov in .tools/checkov (tests/components/test_k8s_checkov.py)

# cloud-init validates the instances' user data in the tests (Debian package: no wheel
# exists). Installed once, as root, when missing; without root the tests that need it skip.
system-tools:
	@command -v cloud-init >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing cloud-init (Debian) for the user-data schema check"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cloud-init >/dev/null; \
	  else echo "cloud-init missing and not root: the user-data schema tests will skip"; fi; }

plan: $(STAMP) ## the offline plan of the dev stack
	$(VENV)/bin/llm-serving plan dev

# Two workers: the machines have 2 cores, and the worker tests mostly wait on real processes.
test: $(STAMP) system-tools $(CHECKOV_STAMP) ## the whole test suite
	$(VENV)/bin/pytest -n 2

lint: $(STAMP) ## ruff and mypy, clean
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean:
	rm -rf .tools $(VENV)
