# Two commands do all set-up: `make demo` (the main job on a built-in default) and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ammcnet-installed

.PHONY: demo test install lint docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip >/dev/null
	# torch first, as a local CPU build where one is offered; then the project, editable, with test tools
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install "torch==2.13.0" || $(BIN)/python -m pip install "torch>=2.2"
	$(BIN)/python -m pip install -e ".[dev,onnx,docs,ray,mqtt,media,serve,browser]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ammcnet demo --out runs/demo

# two test processes (pytest-xdist): a 2-core machine runs the suite in about two thirds of the time
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 tests

docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir site

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) runs site .pytest_cache
