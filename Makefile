# Two commands do all set-up on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU wheel that lies on this machine's disk; where it is absent the project's own range is used.
# On a CUDA machine: make setup TORCH='torch>=2.2,<3'
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: setup demo test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH)" || $(BIN)/pip install -q "torch>=2.2,<3"
	$(BIN)/pip install -q -e ".[test]"
	touch $@

setup: $(STAMP)

demo: setup
	$(BIN)/unigen train experiments/configs/ring_gan.yaml --out runs/demo/ring_gan
	$(BIN)/unigen train experiments/configs/mnist_vae.yaml --out runs/demo/mnist_vae
	@echo "demo runs: runs/demo/ring_gan and runs/demo/mnist_vae (samples.png, losses.png, eval.json)"

test: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile

clean:
	rm -rf $(VENV) runs .pytest_cache
