# onprem.deepseek: set-up, tests and the sandbox. Every target installs what it needs first.
SHELL := /bin/bash
ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
TESTBED := $(ROOT)/tests/testbed
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(ROOT)/.ansible/collections
PLAYBOOK := $(VENV)/bin/ansible-playbook
# The sandbox: the production sample inventory with the overlay that points it at local containers.
SANDBOX_INV := -i inventories/prod -i inventories/sandbox.yml
# The molecule scenarios of `make test`; `make molecule-all` runs every scenario (molecule/shared holds the
# create/destroy playbooks). CI's limit is 90 minutes on 2 cores: keep `make test` under 75. The staging bed
# (`make staging`: site.yml on inventories/prod with the sandbox overlay, three runs and the end-state checks)
# takes longer than that budget leaves on 2 cores, so it runs on its own.
SCENARIOS ?= preflight nvidia_driver base_os gateway secrets vault_cluster glusterfs monitoring training python_env
ALL_SCENARIOS := $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))

.PHONY: help setup venv collection-link docker images tools test test-fast lint sanity units molecule molecule-all \
        sandbox sandbox-verify sandbox-report sandbox-down staging build clean

help:
	@echo "make sandbox       deploy inventories/prod onto local systemd containers (inventories/sandbox.yml overlay)"
	@echo "make sandbox-verify  check the sandbox's model store, monitoring and alerting (after make sandbox)"
	@echo "make sandbox-report  write the site report of the sandbox and check it in headless Chromium"
	@echo "make sandbox-down  remove every container and network of the sandbox"
	@echo "make test          lint, sanity, unit tests and every molecule scenario, with a summary"
	@echo "make test-fast     lint, sanity and unit tests"
	@echo "make staging       the prod-shaped staging bed as a test (three site.yml runs and the end-state checks)"
	@echo "make build         build the collection tarball"

venv: $(VENV)/.requirements.stamp
$(VENV)/.requirements.stamp: requirements.txt
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

# The collection is used in place: .ansible/collections/ansible_collections/onprem/deepseek -> repo root.
collection-link:
	@mkdir -p .ansible/collections/ansible_collections/onprem
	@ln -sfn ../../../.. .ansible/collections/ansible_collections/onprem/deepseek

docker:
	bash $(TESTBED)/ensure_docker.sh

images: docker
	bash $(TESTBED)/build_images.sh

tools:
	bash $(TESTBED)/ensure_tools.sh

setup: venv collection-link images tools

test: setup
	bash $(TESTBED)/run_suite.sh lint sanity units $(addprefix molecule:,$(SCENARIOS))

# The prod-shaped staging bed as a test: deploy, chat, a second run with changed=0, --check --diff with nothing to
# change, staging_verify.yml and sandbox_verify.yml; the containers are removed unless ONPREM_SANDBOX_KEEP=1.
staging: setup
	bash $(TESTBED)/run_suite.sh sandbox

test-fast: venv collection-link tools
	bash $(TESTBED)/run_suite.sh lint sanity units

lint: venv collection-link
	bash $(TESTBED)/run_suite.sh lint

sanity: venv collection-link
	bash $(TESTBED)/run_suite.sh sanity

units: venv collection-link tools
	bash $(TESTBED)/run_suite.sh units

molecule: setup
	bash $(TESTBED)/run_suite.sh $(addprefix molecule:,$(SCENARIOS))

molecule-all: setup
	bash $(TESTBED)/run_suite.sh $(addprefix molecule:,$(ALL_SCENARIOS))

sandbox: setup
	$(PLAYBOOK) $(TESTBED)/build_site_image.yml
	$(PLAYBOOK) $(SANDBOX_INV) $(TESTBED)/sandbox_prepare.yml
	$(PLAYBOOK) $(SANDBOX_INV) $(TESTBED)/sandbox_up.yml
	$(PLAYBOOK) $(SANDBOX_INV) site.yml
	$(PLAYBOOK) $(SANDBOX_INV) $(TESTBED)/sandbox_api_key.yml
	$(PLAYBOOK) $(SANDBOX_INV) $(TESTBED)/sandbox_chat.yml

sandbox-verify: venv collection-link
	$(PLAYBOOK) $(SANDBOX_INV) $(TESTBED)/staging_verify.yml
	$(PLAYBOOK) $(SANDBOX_INV) $(TESTBED)/sandbox_verify.yml

# The site report of the running sandbox, checked in headless Chromium (healthy, then a replica and a host stopped).
sandbox-report: venv collection-link tools
	bash tests/report/sandbox_report_check.sh

sandbox-down: venv collection-link
	$(PLAYBOOK) $(SANDBOX_INV) $(TESTBED)/sandbox_down.yml
	rm -rf .sandbox

build: venv
	$(VENV)/bin/ansible-galaxy collection build --force --output-path .testbed/dist .

clean: sandbox-down
	rm -rf .testbed tests/output .ansible/facts
