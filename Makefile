# Two commands on a fresh clone: `make demo` and `make test`. Each sets up .venv first.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFIG ?= configs/demo_batvision_v2.yaml
DEMO_DATA := data/batvision_v2_demo
DEMO_RUNS := runs/demo
ARGS ?=

.PHONY: help setup demo demo-data test lint train tensorboard bench clean distill-experiments

help:  ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet torch==2.13.0
	$(PYTHON) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)  ## create .venv with CPU torch 2.13.0 and the project (idempotent)

demo-data: setup  ## generate the small simulated BatVision V2 set in data/ if absent
	@test -f $(DEMO_DATA).complete || { \
	  $(PYTHON) scripts/make_synthetic_batvision.py --version v2 --output $(DEMO_DATA) \
	    --locations 4 --samples-per-location 75 --seed 0 && touch $(DEMO_DATA).complete; }

demo: demo-data  ## data, a small U-Net trained for a few epochs, test metrics, paths
	rm -rf $(DEMO_RUNS)
	$(PYTHON) scripts/train.py $(CONFIG) checkpoint.filepath $(DEMO_RUNS) $(ARGS)
	$(PYTHON) scripts/eval.py --checkpoint $$(ls -d $(DEMO_RUNS)/*/ | head -1)last.ckpt --split test
	@echo "TensorBoard: make tensorboard LOGDIR=$(DEMO_RUNS)"

test: setup horovod  ## lint, then the whole test suite (builds Horovod once for the distributed tests)
	$(VENV)/bin/ruff check packnet_sfm configs scripts tests bench
	$(PYTHON) -m pytest -q

lint: setup  ## ruff, clean
	$(VENV)/bin/ruff check packnet_sfm configs scripts tests bench

train: setup  ## make train CONFIG=configs/X.yaml [ARGS="key value ..."]
	$(PYTHON) scripts/train.py $(CONFIG) $(ARGS)

LOGDIR ?= runs
tensorboard: setup  ## TensorBoard over LOGDIR (default runs/)
	$(PYTHON) -m pip install --quiet tensorboard
	$(VENV)/bin/tensorboard --logdir $(LOGDIR) --bind_all

SPEED_BENCHES := bench/data_pipeline.py bench/train_step.py bench/inference.py bench/generator.py
bench: setup  ## the speed benchmarks (ratios against references measured in the same run)
	for b in $(SPEED_BENCHES); do echo "== $$b"; $(PYTHON) $$b || exit 1; done

DISTILL_DATA ?= data/batvision_v2_distill
DISTILL_RUNS ?= runs/distill_v2_synthetic
distill-experiments: setup  ## seed 003: RGB teacher, audio-only and 3 distilled students, one table
	@test -f $(DISTILL_DATA).complete || { \
	  $(PYTHON) scripts/make_synthetic_batvision.py --version v2 --output $(DISTILL_DATA) \
	    --locations 5 --samples-per-location 80 --seed 0 && touch $(DISTILL_DATA).complete; }
	OMP_NUM_THREADS=1 $(PYTHON) scripts/run_distillation_experiments.py --data $(DISTILL_DATA) \
	  --runs $(DISTILL_RUNS) --epochs 10 --batch-size 4 --lr 0.005 --image-size 32 \
	  --base-channels 8 --num-workers 1 --markdown $(DISTILL_RUNS)/table.md $(ARGS)

clean:  ## remove generated data and runs (keeps .venv)
	rm -rf data runs

-include docker/docker.mk
