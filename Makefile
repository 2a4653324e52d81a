# fedtheory: set-up and the two commands of the README.
#   make validate   # creates/reuses .venv, installs, runs `fedtheory validate` on the quick budget
#   make test       # creates/reuses .venv, installs with test extras, runs the test suite
#   make bench        # every benchmark, the peers included, in one run (log: bench/last_run.txt)
#   make bench-peers  # fedtheory against ByzFL, in its own .venv-peers (PEER_ARGS=--quick: a smoke test)
#   make bench-flower # federated LoRA, fedtheory against Flower's simulation engine, in its own .venv-flower
PYTHON ?= python3
VENV   ?= .venv
PIP    := $(VENV)/bin/python -m pip
# Torch: the CPU build, never a bare `torch` (that pulls a multi-GB CUDA build). A local wheel
# (e.g. /opt/wheels) is used when present, otherwise PyTorch's CPU index.
TORCH_VERSION   ?= 2.13.0
TORCH_WHEELS    ?= /opt/wheels
TORCH_PIP_ARGS  ?= $(if $(wildcard $(TORCH_WHEELS)/torch-$(TORCH_VERSION)*.whl),--find-links $(TORCH_WHEELS),--index-url https://download.pytorch.org/whl/cpu)
BUDGET ?= quick
OUT    ?= figures
PEERS_VENV ?= .venv-peers
PEERS_PIP  := $(PEERS_VENV)/bin/python -m pip
PEER_ARGS  ?=
FLOWER_VENV ?= .venv-flower
FLOWER_PIP  := $(FLOWER_VENV)/bin/python -m pip
BENCH_LOG   ?= bench/last_run.txt
BENCH_ARGS  ?=

.PHONY: setup validate test bench bench-peers bench-flower clean

$(VENV)/.torch:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "torch==$(TORCH_VERSION)" $(TORCH_PIP_ARGS)
	touch $@

$(VENV)/.installed: $(VENV)/.torch pyproject.toml
	$(PIP) install --quiet -e ".[test,data,text,ray]"
	$(PIP) install --quiet --no-deps fluffypancakes==0.1.5
	touch $@

# Real datasets into the user cache (apt-get download + dpkg-deb -x: no root at run time).
# Fresh machines may lack apt package lists: then refresh them once (needs root) and retry.
$(VENV)/.data: $(VENV)/.installed
	$(VENV)/bin/fedtheory data || { apt-get update -qq && $(VENV)/bin/fedtheory data; }
	touch $@

setup: $(VENV)/.installed $(VENV)/.data

validate: setup
	$(VENV)/bin/fedtheory validate --budget $(BUDGET) --out $(OUT)

test: setup
	$(VENV)/bin/python -m pytest

# Every benchmark in one run, the peers in their own environments (created below on first use); the output,
# after a header with the date, the machine and the commit, also goes to $(BENCH_LOG). BENCH_ARGS: e.g.
# --only peers fedslr, or --suite-selectors (no names) for the whole quick suite in the executor benchmark.
bench: setup $(PEERS_VENV)/.installed $(FLOWER_VENV)/.installed
	$(VENV)/bin/python -m bench --log $(BENCH_LOG) --peers-python $(PEERS_VENV)/bin/python \
		--flower-python $(FLOWER_VENV)/bin/python $(BENCH_ARGS)

# The peer benchmark (bench/peers.py) needs ByzFL, which never goes into $(VENV): its declared
# torchvision would pull a CUDA torch over the CPU one. Its own venv gets the same CPU torch, fedtheory
# with the phishing data, then byzfl with --no-deps and the one import-time dependency fedtheory lacks
# (seaborn, for byzfl.benchmark's plots). torchvision, imported only by byzfl.benchmark's training
# script, is a stand-in put on PYTHONPATH for this run alone (bench/peer_stubs).
$(PEERS_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_PIP) install --quiet --upgrade pip
	$(PEERS_PIP) install --quiet "torch==$(TORCH_VERSION)" $(TORCH_PIP_ARGS)
	$(PEERS_PIP) install --quiet -e ".[data]"
	$(PEERS_PIP) install --quiet --no-deps fluffypancakes==0.1.5
	$(PEERS_PIP) install --quiet seaborn==0.13.2
	$(PEERS_PIP) install --quiet --no-deps byzfl==0.0.11
	touch $@

bench-peers: $(PEERS_VENV)/.installed
	PYTHONPATH=bench/peer_stubs $(PEERS_VENV)/bin/python -m bench.peers $(PEER_ARGS)

# The Flower benchmark (bench/peers_flower.py) needs flwr[simulation], which never goes into $(VENV): it pins
# its own Ray (2.55.1) and older protobuf, packaging and typer. Its own venv gets the same CPU torch and
# fedtheory with MiniLM (.[text]), then Flower under a constraint that holds torch at that version, so pip
# fails rather than swap in another build. The MiniLM token and prefix caches come from ~/.cache/fedtheory.
$(FLOWER_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(FLOWER_VENV)
	$(FLOWER_PIP) install --quiet --upgrade pip
	$(FLOWER_PIP) install --quiet "torch==$(TORCH_VERSION)" $(TORCH_PIP_ARGS)
	$(FLOWER_PIP) install --quiet -e ".[text]"
	echo "torch==$(TORCH_VERSION)" > $(FLOWER_VENV)/torch-pin.txt
	$(FLOWER_PIP) install --quiet --constraint $(FLOWER_VENV)/torch-pin.txt "flwr[simulation]==1.42.0"
	touch $@

bench-flower: $(FLOWER_VENV)/.installed
	$(FLOWER_VENV)/bin/python -m bench.peers_flower $(PEER_ARGS)

clean:
	rm -rf $(VENV) $(PEERS_VENV) $(FLOWER_VENV) .pytest_cache .hypothesis
