# The two commands of the README: `make demo` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?=
DEMO_OUT ?= demo_output
REAL_CT ?= ../shared/data/real_ct/ts_chest_crop.nii.gz
DEMO_ARGS ?=
# The viewer's NiiVue bundle: installed from the npm registry at build time, shipped in the package.
NIIVUE_VERSION := 0.69.0
NIIVUE := src/hyperct/serve/static/vendor/niivue.umd.js

.PHONY: demo test venv lint clean viewer system

$(STAMP): pyproject.toml | $(NIIVUE)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

viewer: $(NIIVUE)

$(NIIVUE):
	rm -rf build/npm && mkdir -p build/npm $(dir $@)
	cd build/npm && npm pack --silent @niivue/niivue@$(NIIVUE_VERSION) > /dev/null
	tar -xzf build/npm/niivue-niivue-$(NIIVUE_VERSION).tgz -C build/npm package/dist/niivue.umd.js
	cp build/npm/package/dist/niivue.umd.js $@

# Debian packages the tests need: chromium for the browser test (nothing downloads a browser),
# tcmalloc for the allocator cases of benchmarks/model_speed.py and the CLI that preloads it.
system:
	@command -v chromium > /dev/null && command -v chromedriver > /dev/null && \
		ldconfig -p | grep -q libtcmalloc_minimal.so.4 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium chromium-driver libtcmalloc-minimal4; }

test: $(STAMP) system
	$(BIN)/python -m pytest -n 2 --dist loadfile

demo: $(STAMP)
	$(BIN)/hyperct demo --out $(DEMO_OUT) --force --real-ct $(REAL_CT) $(if $(CONFIG),--config $(CONFIG),) $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO_OUT)
