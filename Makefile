# Two commands do all set-up on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU wheel that lies on this machine's disk; where it is absent the project's own range is used.
# On a CUDA machine: make setup TORCH='torch>=2.2,<3'
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: setup demo test docs data clean gpu-kit pages-check

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH)" || $(BIN)/pip install -q "torch>=2.2,<3"
	$(BIN)/pip install -q -e ".[test]"
	touch $@

setup: $(STAMP)

demo: setup
	$(BIN)/unigen train experiments/configs/ring_gan.yaml --out runs/demo/ring_gan --overwrite
	$(BIN)/unigen train experiments/configs/mnist_vae.yaml --out runs/demo/mnist_vae --overwrite
	@echo ""
	@echo "Where to look:"
	@echo "  runs/demo/ring_gan/samples.png    generated points over the ring's 8 modes"
	@echo "  runs/demo/ring_gan/losses.png     the players' losses, then the critic's logits"
	@echo "  runs/demo/ring_gan/eval.json      modes covered, high-quality fraction, KL over modes"
	@echo "  runs/demo/mnist_vae/samples.png   decoded digits; eval.json: test ELBO and IWAE bound (nats)"
	@echo "Next, try:"
	@echo "  $(BIN)/unigen list"
	@echo "  $(BIN)/unigen train experiments/configs/ring_gan.yaml strategy.name=minimax_gan --out runs/mm"
	@echo "  $(BIN)/unigen train experiments/configs/ring_wgan_gp.yaml --out runs/wgan_gp"
	@echo "  $(BIN)/unigen sample runs/demo/ring_gan -n 2500 -o ring.png"
	@echo "  $(BIN)/unigen reproduce wgan-disjoint --quick   # writes experiments/results/wgan-disjoint.quick.md"

test: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile

# Every results page re-rendered from the reproductions' cache (runs/cache) and compared with the committed one;
# nothing trains (UNIGEN_CACHE_ONLY=1): see docs/howto/reproduce.md.
pages-check: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m unigen.experiments.check_pages

# The documentation site (docs/, see docs/conf.py) into docs/_build/html: the `docs` extra installed once (a stamp,
# as for setup), then Sphinx with warnings as errors. The API, CLI and results pages are generated into
# docs/generated/ and the tutorials (docs/tutorials/plot_*.py) run during the build.
DOCS_STAMP := $(VENV)/.installed-docs

$(DOCS_STAMP): $(STAMP)
	$(BIN)/pip install -q -e ".[docs]"
	touch $@

docs: $(DOCS_STAMP)
	OMP_NUM_THREADS=1 $(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html
	@echo "the site: docs/_build/html/index.html"

# Fashion-MNIST, the full-size image set (Debian's dataset-fashion-mnist, ~30 MB, IDX files in FASHION_DIR).
# Installed where we may (root or password-less sudo; apt-get update only if the first install fails),
# otherwise the command is printed.
FASHION_DIR ?= /usr/share/datasets/fashion-mnist
FASHION_PKG := dataset-fashion-mnist

data:
	@if [ -f $(FASHION_DIR)/t10k-labels-idx1-ubyte.gz ]; then echo "Fashion-MNIST is in $(FASHION_DIR)"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then as=""; elif sudo -n true 2>/dev/null; then as="sudo -n"; else as=none; fi; \
	if [ "$$as" = none ] || ! command -v apt-get >/dev/null; then \
	    echo "Fashion-MNIST is not installed; run: sudo apt-get install $(FASHION_PKG)  (or set data.root=DIR to its IDX files)"; exit 0; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	$$as apt-get install -y -q $(FASHION_PKG) || { $$as apt-get update -q && $$as apt-get install -y -q $(FASHION_PKG); }

# What benchmarks/device_visit.sh carries to a lent GPU machine (see that script): the wheels its image lacks
# (pure Python, no dependencies pulled), Fashion-MNIST's IDX files where installed, and the cached classifiers.
KIT := .gpu-kit
gpu-kit:  # rebuilt each time, except pages/: the page caches that GPU visits carry back (device_visit.sh page)
	rm -rf $(KIT)/whl $(KIT)/cache $(KIT)/fashion-mnist && mkdir -p $(KIT)/whl $(KIT)/cache
	$(PYTHON) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	    --platform manylinux_2_28_x86_64 -d $(KIT)/whl pyro-ppl==1.9.2 pyro-api==0.1.2 omegaconf==2.4.0 mlxtend==0.25.0
	-[ -d $(FASHION_DIR) ] && cp -r $(FASHION_DIR) $(KIT)/fashion-mnist
	-cp $${UNIGEN_CACHE:-$$HOME/.cache/unigen}/*.pt $(KIT)/cache/
	@du -sh $(KIT)

clean:
	rm -rf $(VENV) runs .pytest_cache $(KIT) docs/_build docs/generated
