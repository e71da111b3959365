#!/usr/bin/env bash
# One prepared visit to a lent GPU machine: everything the open issues need a GPU for, in one command that ends
# inside the device tool's 10-minute limit, each stage under its own time limit so a slow one cannot starve the next.
#
# Here, once (needs PyPI):   make gpu-kit       # wheels missing on the GPU image, Fashion-MNIST, cached classifiers
# Then, with the device tool: run(command="bash benchmarks/device_visit.sh", carry=[".gpu-kit"], timeout_s=600)
#
# Stages, in order of what they unblock (issue 17's CUDA tests, issue 16's 5-seed MNIST page, issue 17's
# benchmark), each writing its log and results under $OUT (at most 8 files come back):
#   tests.log       the CUDA tests (compiled, traced, stream, data) and the traced-mode tests, on the GPU
#   iwgan.log       unigen reproduce hu2018-iwgan --seeds 5 --device cuda (full width, 5,000 steps)
#   hu2018-iwgan.md/.json/.png   that page
#   bench.log, cuda.json         benchmarks/bench.py --device cuda (eager, traced, torch.compile, graphs)
# Budgets (seconds) can be changed from the environment: TESTS_S, IWGAN_S, BENCH_S.
set -uo pipefail
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
KIT=.gpu-kit
export PYTHONUNBUFFERED=1 UNIGEN_CACHE="$PWD/$KIT/cache"
start=$(date +%s)
say() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$OUT/visit.log"; }

say "install: $(ls $KIT/whl | tr '\n' ' ')"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site $KIT/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site
# unigen itself, editable: the code that runs is the code that travelled (the image has setuptools and wheel)
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . || exit 1
if [ -d "$KIT/fashion-mnist" ] && [ ! -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ]; then
    mkdir -p /usr/share/datasets/fashion-mnist && cp "$KIT"/fashion-mnist/*.gz /usr/share/datasets/fashion-mnist/
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$OUT/visit.log"
python3 -c "import torch, pyro; print('torch', torch.__version__, 'pyro', pyro.__version__, 'cuda', torch.cuda.is_available())" \
    | tee -a "$OUT/visit.log"

say "stage 1: CUDA tests"
timeout "${TESTS_S:-150}" python3 -m pytest -q -p no:cacheprovider -n 8 -rs \
    tests/unigen/test_compiled.py tests/unigen/test_traced.py tests/unigen/test_stream.py tests/unigen/test_data.py \
    > "$OUT/tests.log" 2>&1
say "tests: exit $? ($(tail -1 "$OUT/tests.log"))"

say "stage 2: hu2018-iwgan, 5 seeds, MNIST"
timeout "${IWGAN_S:-230}" python3 -m unigen reproduce hu2018-iwgan --seeds 5 --device cuda --results "$OUT" > "$OUT/iwgan.log" 2>&1
say "iwgan: exit $?"

say "stage 3: benchmark"
left=$((570 - ($(date +%s) - start)))
budget=$(( left < ${BENCH_S:-300} ? left : ${BENCH_S:-300} ))
if [ "$budget" -gt 30 ]; then
    timeout "$budget" python3 benchmarks/bench.py --device cuda --min-time 2 --out "$OUT/bench" > "$OUT/bench.log" 2>&1
    say "bench: exit $? in a budget of $budget s"
    [ -f "$OUT/bench/cuda.json" ] && mv "$OUT/bench/cuda.json" "$OUT/cuda.json"  # else: its rows are in bench.log
    rm -rf "$OUT/bench" "$OUT/RESULTS.md"  # RESULTS.md is rebuilt here: bench.py --report
else
    say "bench: skipped ($left s left)"
fi
say "done"
