# Every target bootstraps what it needs; a fresh clone only needs python3 (3.11+) and make.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
# Stands for Lambda's python3.13 runtime in `make bench`: Python 3.13 with boto3 alone, compiled
# (the layer's version: the runtime's own varies).
RUNTIME_VENV := .venv-runtime
RUNTIME_STAMP := $(RUNTIME_VENV)/.installed
PYTHON313 ?= python3.13
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SAM_STAMP := $(SAM_VENV)/.installed
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
export AWS_DEFAULT_REGION ?= eu-west-1

.PHONY: help local invoke demo test test-fast lint bench openapi merchant owner redrive build runtime-venv clean
PORT ?= 3000

help:
	@echo "make local     - run the whole system on http://127.0.0.1:\$$PORT (default 3000), no Docker; Ctrl-C stops"
	@echo "make demo      - (with make local running) three months of billing, one mandate per simulated token"
	@echo "make invoke FN=charger EVENT=events/charger_sqs_batch.json - run one function with one sample event"
	@echo "make test      - bootstrap .venv, lint the template, run every test"
	@echo "make test-fast - unit tests only, without the slow property tests"
	@echo "make lint      - ruff (format and lint), import-linter (the layers), mypy --strict on billing/, functions/, devtools/, scripts/, cfn-lint (+ serverless rules), cfn-lint of the SAM-expanded template, sam validate --lint, checkov"
	@echo "make bench     - one tick with 1,000 due among 20,000 mandates (dispatcher + charger); a charge end to end with all it sets off (events, receipts, receipt e-mail, one webhook delivery: calls, items read, cost per million); a bank debit end to end (pre-notification, processing, lookups, settlement reported or looked up); AWS calls and cost per webhook delivery; the memory of an export of 100,000 charges; each function's cold start vs import boto3, in the venv and (after make build) on the built artifact"
	@echo "make openapi   - regenerate docs/openapi.json from the code"
	@echo "make redrive QUEUE=charge|schedule|events|webhooks|webhook-events|gateway-events|receipts|notify|exports|reconcile|figures [STACK=<stack>] - replay a dead-letter queue after fixing its cause"
	@echo "make build     - sam build (needs python3.13 on PATH, e.g. PYENV_VERSION=3.13.0)"
	@echo "make merchant NAME='Shop' [TABLE=<table> or STACK=<stack>] [OWNER=<e-mail>] - create a merchant in the deployed table, print its key once; OWNER: invite its dashboard owner (Cognito e-mails a temporary password)"
	@echo "make owner MERCHANT=mch_... OWNER=<e-mail> [STACK=<stack>] - invite another dashboard owner to an existing merchant (an owner who lost access)"

$(STAMP): requirements-dev.txt layers/billing/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# aws-sam-cli pins old boto3/pydantic: it lives in its own virtualenv.
$(SAM_STAMP):
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli==1.170.0
	touch $@

$(RUNTIME_STAMP): layers/billing/requirements.txt
	test -x $(RUNTIME_VENV)/bin/python || $(PYTHON313) -m venv $(RUNTIME_VENV)
	$(RUNTIME_VENV)/bin/pip install --quiet --disable-pip-version-check $$(grep -E '^boto3==' layers/billing/requirements.txt)
	touch $@

# checkov pins its own versions of boto3, pydantic and friends: its own virtualenv too.
$(CHECKOV_STAMP):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==3.3.30
	touch $@

local: $(STAMP)
	$(PY) -m devtools.local --port $(PORT) $(if $(STATE),--state $(STATE))

demo: $(STAMP)
	PORT=$(PORT) $(PY) scripts/demo.py

invoke: $(STAMP)
	@test -n "$(FN)" -a -n "$(EVENT)" || (echo "usage: make invoke FN=<function dir, e.g. dispatcher> EVENT=events/<file>.json"; exit 2)
	$(PY) -m devtools.invoke $(FN) $(EVENT)

test: $(STAMP) $(SAM_STAMP)
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --template template.yaml
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest tests/unit -m "not slow"

lint: $(STAMP) $(SAM_STAMP) $(CHECKOV_STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	PYTHONPATH=layers/billing:. $(VENV)/bin/lint-imports  # the layers (pyproject.toml [tool.importlinter])
	$(VENV)/bin/mypy
	$(VENV)/bin/cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml
	$(PY) -m pytest tests/template -q
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --template template.yaml
	# 0 failed checks; skips for every resource in .checkov.yaml, one resource's in its Metadata, each with its reason (offline: --skip-download).
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml --file template.yaml --framework cloudformation --skip-download --compact --quiet

runtime-venv: $(RUNTIME_STAMP)

# The built measure of cold_start.py needs `make build` first (it says so and skips it otherwise).
bench: $(STAMP)
	@if command -v $(PYTHON313) >/dev/null; then $(MAKE) --no-print-directory $(RUNTIME_STAMP); else echo "no $(PYTHON313): the built cold start is skipped"; fi
	$(PY) benchmarks/bench_tick.py
	$(PY) benchmarks/bench_end_to_end.py
	$(PY) benchmarks/bench_webhooks.py
	$(PY) benchmarks/bench_exports.py
	$(PY) benchmarks/bench_figures.py
	$(PY) benchmarks/cold_start.py

openapi: $(STAMP)
	$(PY) scripts/openapi.py > docs/openapi.json

merchant: $(STAMP)
	@test -n "$(NAME)" || (echo "usage: make merchant NAME='Shop name' [TABLE=<BillingTableName>]"; exit 2)
	$(PY) scripts/create_merchant.py --name "$(NAME)" $(if $(TABLE),--table "$(TABLE)",--stack "$(or $(STACK),recurring-payments)") $(if $(OWNER),--owner "$(OWNER)")

owner: $(STAMP)
	@test -n "$(MERCHANT)" -a -n "$(OWNER)" || (echo "usage: make owner MERCHANT=mch_... OWNER=ann@shop.example [STACK=<stack>]"; exit 2)
	$(PY) scripts/invite_owner.py --stack "$(or $(STACK),recurring-payments)" --merchant "$(MERCHANT)" --owner "$(OWNER)"

redrive: $(STAMP)
	@test -n "$(QUEUE)" || (echo "usage: make redrive QUEUE=charge|schedule|events|webhooks|webhook-events|gateway-events|receipts|notify|exports|reconcile|figures [STACK=<stack>]"; exit 2)
	$(PY) scripts/redrive.py $(QUEUE) --stack $(or $(STACK),recurring-payments)

build: $(SAM_STAMP)
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) $(RUNTIME_VENV) .aws-sam .pytest_cache .hypothesis
