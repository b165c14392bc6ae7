# nayose — two set-up commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install chromium demo demo-org test ui bench bench-compare clean

# pyspark (the `spark` extra) is a 450 MB source package: its wheel is built once into
# $(WHEELS) and installed from there afterwards. Where it cannot be installed the Spark tests skip.
WHEELS ?= $(HOME)/.cache/nayose-wheels
SPARK_PIN := pyspark==4.3.0

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	ls $(WHEELS)/pyspark-4.3.0-*.whl >/dev/null 2>&1 || $(PY) -m pip wheel --quiet --no-deps $(SPARK_PIN) -w $(WHEELS) \
		|| echo "warning: could not build $(SPARK_PIN); the Spark tests will be skipped"
	$(PY) -m pip install --quiet --find-links $(WHEELS) -e '.[test,spark]' \
		|| echo "warning: the spark extra is not installed; the Spark tests will be skipped"
	touch $(STAMP)

install: $(STAMP)

## demo: generate the built-in sample org, materialize every asset into data/nayose.duckdb, write out/
demo: install
	$(PY) -m pipelines.demo

## demo-org: the apply loop against the local fake org: sample -> plan -> approve auto groups -> apply --execute -> undo
demo-org: install
	$(PY) -m pipelines.demo_org

## chromium: Debian's Chromium for the browser test (never a downloaded browser), installed when missing
chromium:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then \
		if [ "$$(id -u)" = "0" ]; then apt-get update && apt-get install -y chromium; \
		else sudo -n apt-get update && sudo -n apt-get install -y chromium; fi \
		|| echo "warning: could not install chromium; the browser test will be skipped"; \
	fi

## test: the whole suite (starts every service it needs itself), on both cores: two workers,
## each test file in one of them (11 min in one process, 7.5 min in two)
test: install chromium
	$(PY) -m pytest -q -n 2 --dist loadfile

## ui: the Dagster UI on http://127.0.0.1:3000
ui: install
	mkdir -p .dagster_home
	test -f .dagster_home/dagster.yaml || cp pipelines/dagster.yaml .dagster_home/dagster.yaml
	DAGSTER_HOME=$(CURDIR)/.dagster_home $(VENV)/bin/dagster dev -h 127.0.0.1 -p 3000

## bench: speed and memory of `nayose plan` at 100k and 1M sample records (figures for README)
bench: install
	$(PY) bench/plan_bench.py

## bench-compare: nayose vs Splink 5 on FEBRL1-4, the sample and FEBRL-like data up to 1M (figures, plots for README)
bench-compare: install
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/compare.py --sets all

clean:
	rm -rf data out .dagster_home bench/out
