# Horovod and Docker targets, included by the top Makefile (which defines VENV, PYTHON, CONFIG
# and ARGS). Inside the image /workspace/data -> /data and /workspace/runs -> /runs, so a
# config with relative `data/...` paths and `checkpoint.filepath runs` works unchanged.
VENV ?= .venv
PYTHON ?= $(VENV)/bin/python
IMAGE ?= packnet-sfm-echo:latest
DATA_DIR ?= $(CURDIR)/data
RUNS_DIR ?= $(CURDIR)/runs
NGPUS ?= $(shell n=$$(nvidia-smi -L 2>/dev/null | wc -l); [ "$$n" -gt 0 ] && echo $$n || echo 1)
NP ?= 2
HOSTS ?= localhost:$(NP)
HOROVODRUN_ARGS ?=
DOCKER_ARGS ?=
COMMAND ?= bash
TENSORBOARD_PORT ?= 6006

# Files written under /runs belong to the calling user; -it only when a terminal is attached.
DOCKER_RUN = docker run --rm $(shell [ -t 0 ] && echo -it) --gpus all --ipc=host \
	--ulimit memlock=-1 --ulimit stack=67108864 \
	--user $$(id -u):$$(id -g) -e HOME=/tmp \
	-v $(DATA_DIR):/data -v $(RUNS_DIR):/runs -v $(CURDIR)/configs:/workspace/configs:ro \
	$(DOCKER_ARGS) $(IMAGE)

.PHONY: horovod train-distributed docker-build docker-train docker-run docker-tensorboard

horovod: setup ## build Horovod 0.28.1 (PyTorch, Gloo) into .venv; seconds from the cached wheel
	bash docker/install_horovod.sh $(PYTHON)

train-distributed: horovod ## make train-distributed CONFIG=... NP=4 [HOSTS=host1:2,host2:2] (horovodrun, no Docker)
	$(VENV)/bin/horovodrun -np $(NP) -H $(HOSTS) $(HOROVODRUN_ARGS) \
		$(abspath $(PYTHON)) scripts/train.py $(CONFIG) $(ARGS)

docker-build: ## build the CUDA 12.6 image (torch 2.13, Horovod with NCCL), print its size [IMAGE=name:tag]
	DOCKER_BUILDKIT=1 docker build -f docker/Dockerfile -t $(IMAGE) .
	@docker image ls --format 'Built {{.Repository}}:{{.Tag}}, {{.Size}}' $(IMAGE)

docker-train: ## make docker-train CONFIG=... [NGPUS=n] (horovodrun in the image, all GPUs by default)
	mkdir -p $(RUNS_DIR)
	$(DOCKER_RUN) horovodrun -np $(NGPUS) -H localhost:$(NGPUS) $(HOROVODRUN_ARGS) \
		python scripts/train.py $(CONFIG) $(ARGS)

docker-run: ## make docker-run COMMAND="..." (any command in the image; default bash)
	$(DOCKER_RUN) $(COMMAND)

docker-tensorboard: ## TensorBoard in the image over RUNS_DIR (default runs/) on port 6006
	docker run --rm -p $(TENSORBOARD_PORT):6006 -v $(RUNS_DIR):/runs:ro $(IMAGE) \
		tensorboard --logdir /runs --host 0.0.0.0 --port 6006
