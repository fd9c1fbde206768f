# stream-sentinel developer commands. Everything runs from a project-local .venv.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
SPEC    ?= spec/events

.PHONY: install lint fmt test test-fast demo check-captures bench bench-worker bench-replay bench-storm bench-rules bench-cel bench-report bench-dashboard golden clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the package with dev extras

lint: $(STAMP)  ## ruff lint + format check + strict mypy + import-linter layer contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(STAMP)  ## apply ruff format and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint  ## lint, then the whole suite (unit, spec, golden, integration)
	$(BIN)/pytest

test-fast: $(STAMP)  ## unit + spec + golden tests only (no broker)
	$(BIN)/pytest tests/unit tests/spec tests/golden

demo: $(STAMP)  ## embedded broker + producer with drift + worker; live drift table until Ctrl-C
	$(BIN)/stream-sentinel demo --spec $(SPEC)

check-captures: $(STAMP)  ## offline: check the bundled captures against the example contracts
	@for f in replay/captures/*.jsonl; do \
	  echo; echo "=== stream-sentinel check $$f"; \
	  $(BIN)/stream-sentinel check --spec $(SPEC) $$f; rc=$$?; \
	  [ $$rc -le 1 ] || exit $$rc; \
	done

bench: $(STAMP)  ## validation-core benchmark; prints ratio=<x> last
	$(BIN)/python bench/validate.py

bench-worker: $(STAMP)  ## worker vs bare Faust agent on the embedded broker; prints ratio=<x> last
	$(BIN)/python bench/worker.py

bench-replay: $(STAMP)  ## replay vs raw aiokafka getmany on the embedded broker; prints ratio=<x> last
	$(BIN)/python bench/replay.py

bench-rules: $(STAMP)  ## core check with behavioural rules vs without, same workload; prints ratio=<x> last
	$(BIN)/python bench/rules.py

bench-storm: $(STAMP)  ## worker RSS, /drift size and msg/s under an event-type storm; prints ratio=<x> last
	$(BIN)/python bench/storm.py

bench-report: $(STAMP)  ## health report: model + renderings vs decoding the drift topic only; prints ratio=<x> last
	$(BIN)/python bench/report.py

bench-dashboard: $(STAMP)  ## one dashboard rendering of 50,000 records vs decoding them only; prints ratio=<x> last
	$(BIN)/python bench/dashboard.py

bench-cel: $(STAMP)  ## CEL libraries: common-expression-language vs cel-python on the refund rule; prints ratio=<x> last
	$(BIN)/python bench/cel_libs.py

golden: $(STAMP)  ## rewrite the frozen golden reports (and the recorded drift-topic week) after a reviewed change
	cd replay && ../$(BIN)/python make_drift_topic.py
	$(BIN)/pytest tests/golden --update-goldens -q

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info
