#!/usr/bin/env bash
# A prepared visit to a lent GPU machine: what the open issues need a GPU for, each stage under its own time limit
# so that a slow one cannot starve the next, every call ending inside the device tool's 10-minute limit.
#
# Here, once (needs PyPI):   make gpu-kit    # wheels missing on the GPU image, Fashion-MNIST, cached classifiers
# Then, with the device tool, two calls back to back (the second finds the machine warm). A session has 15
# minutes of device time, the machine's start (1-2 minutes) included, so the second call is sized to what is left:
#   run(command="bash benchmarks/device_visit.sh tests iwgan", carry=[".gpu-kit"], timeout_s=560)   # about 8 min
#   run(command="BENCH_S=200 BENCH_CASES='mlp_vae iwae_k5 ring_gan' bash benchmarks/device_visit.sh bench",
#       carry=[".gpu-kit"], timeout_s=240)                                                           # about 4 min
# (the convolutional cases' Triton compiles take minutes: a later visit runs BENCH_CASES='dcgan_ns wgan_gp_dcgan')
# Stages (default: all three, in this order), each writing under $OUT (at most 8 files come back):
#   tests   tests.log: the CUDA tests (compiled, traced, stream, data, watch) and the traced-mode tests, on the GPU
#   iwgan   iwgan.log and hu2018-iwgan.md/.json/.png: unigen reproduce hu2018-iwgan --seeds 5 --device cuda
#   bench   bench.log and cuda.json: benchmarks/bench.py --device cuda (hand eager with default and fused Adam, hand
#           traced, unigen eager and traced, graphs, fit(), compute and kernel floors; torch.compile left out);
#           its rows are also printed one by one in bench.log, in case the stage runs out of time
#   split   split.log: benchmarks/host_split.py --device cuda mlp_vae iwae_k5 (not in the default; about 1 min):
#           how much of the eager GPU gap is the forward pass, i.e. Pyro's host work (RESULTS.notes.md)
#   page    PAGE=NAME: unigen reproduce NAME $PAGE_ARGS (default --seeds 5) --device cuda, in pieces across visits
#           (a page's trainings outlast one call): its --cache starts from .gpu-kit/pages/NAME.tar.gz where an earlier
#           visit left one, and goes back as $OUT/NAME.tar.gz with what this call finished (and the trainings it
#           interrupted, saved at most a minute before the stop: unigen.experiments.partial); the page itself, once
#           every training is in the cache, as $OUT/NAME-page.tar.gz; page.log. Here, after the visit: copy
#           NAME.tar.gz into .gpu-kit/pages/ for the next visit (which carries .gpu-kit), and unpack NAME-page.tar.gz
#           into experiments/results/ when page.log ends with the page written. UNIGEN_WORKERS (default 8) processes
#           share the GPU. Not in the default. The GPU pages still to regenerate with per-seed values (issue 32):
#           mode-collapse, monoflow-gan, hu2018-aavae (hu2018-iwgan: the iwgan stage). One call, about 9 minutes:
#   run(command="PAGE=mode-collapse bash benchmarks/device_visit.sh page", carry=[".gpu-kit"], timeout_s=560)
# Limits in seconds from the environment: TESTS_S, IWGAN_S, BENCH_S, SPLIT_S, PAGE_S; BENCH_CASES chooses the bench
# cases.
# Afterwards, here: copy hu2018-iwgan.* into experiments/results/ (the 5-seed MNIST page replaces the 3-seed one),
# cuda.json into benchmarks/results/ and run `python benchmarks/bench.py --report`; read tests.log for failures.
set -uo pipefail
OUT="${OUT:-/tmp/out}"
KIT=.gpu-kit
export PYTHONUNBUFFERED=1 UNIGEN_CACHE="$PWD/$KIT/cache" PYTHONPATH=/tmp/site
start=$(date +%s)
mkdir -p "$OUT"
say() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$OUT/visit.log"; }
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(tests iwgan bench)

if ! python3 -c "import pyro, omegaconf, mlxtend, unigen" 2>/dev/null; then  # a fresh machine
    say "install: $(ls $KIT/whl | tr '\n' ' ')"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site $KIT/whl/*.whl || exit 1
    # unigen itself, editable: the code that runs is the code that travelled (the image has setuptools and wheel)
    python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . || exit 1
    if [ -d "$KIT/fashion-mnist" ] && [ ! -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ]; then
        mkdir -p /usr/share/datasets/fashion-mnist && cp "$KIT"/fashion-mnist/*.gz /usr/share/datasets/fashion-mnist/
    fi
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$OUT/visit.log"
python3 -c "import torch, pyro; print('torch', torch.__version__, 'pyro', pyro.__version__, 'cuda', torch.cuda.is_available())" \
    2>&1 | tee -a "$OUT/visit.log"
git log -1 --format='commit %h %s' 2>/dev/null | tee -a "$OUT/visit.log"

for stage in "${stages[@]}"; do
    case "$stage" in
    tests)
        say "tests: the CUDA tests"
        timeout "${TESTS_S:-180}" python3 -m pytest -q -p no:cacheprovider -n 8 -rs tests/unigen/test_compiled.py \
            tests/unigen/test_traced.py tests/unigen/test_stream.py tests/unigen/test_data.py \
            tests/unigen/test_watch.py > "$OUT/tests.log" 2>&1
        say "tests: exit $? ($(tail -n 1 "$OUT/tests.log"))" ;;
    iwgan)
        say "iwgan: hu2018-iwgan, 5 seeds, MNIST"
        timeout "${IWGAN_S:-300}" python3 -m unigen reproduce hu2018-iwgan --seeds 5 --device cuda --results "$OUT" \
            > "$OUT/iwgan.log" 2>&1
        say "iwgan: exit $?" ;;
    bench)
        say "bench: benchmarks/bench.py --device cuda"
        # shellcheck disable=SC2086
        timeout "${BENCH_S:-540}" python3 benchmarks/bench.py --device cuda --min-time 2 --no-hand-compile --out "$OUT/bench" \
            ${BENCH_CASES:+--cases $BENCH_CASES} > "$OUT/bench.log" 2>&1
        say "bench: exit $?"
        [ -f "$OUT/bench/cuda.json" ] && mv "$OUT/bench/cuda.json" "$OUT/cuda.json"
        rm -rf "$OUT/bench" "$OUT/RESULTS.md" ;;  # RESULTS.md is rebuilt here: bench.py --report
    split)
        say "split: benchmarks/host_split.py --device cuda (the eager VAE gap: forward vs rest)"
        timeout "${SPLIT_S:-90}" python3 benchmarks/host_split.py --device cuda mlp_vae iwae_k5 --min-time 4 \
            > "$OUT/split.log" 2>&1
        say "split: exit $?" ;;
    page)
        name="${PAGE:?set PAGE=NAME, a reproduction}" cache=/tmp/page-cache results=/tmp/page-results
        rm -rf "$cache" "$results" && mkdir -p "$cache" "$results"
        [ -f "$KIT/pages/$name.tar.gz" ] && tar -xzf "$KIT/pages/$name.tar.gz" -C "$cache"
        say "page: $name ${PAGE_ARGS:---seeds 5}, from $(find "$cache" -name '*.pt' | wc -l) cached files"
        # SIGINT: the trainings in flight stop as on Ctrl-C, their states saved at most a minute before
        # shellcheck disable=SC2086
        UNIGEN_WORKERS="${UNIGEN_WORKERS:-8}" timeout -s INT -k 30 "${PAGE_S:-480}" python3 -m unigen reproduce "$name" \
            ${PAGE_ARGS:---seeds 5} --device "${DEVICE:-cuda}" --cache "$cache" --results "$results" \
            > "$OUT/page.log" 2>&1
        code=$?
        tar -czf "$OUT/$name.tar.gz" -C "$cache" .
        [ $code -eq 0 ] && tar -czf "$OUT/$name-page.tar.gz" -C "$results" .
        say "page: exit $code, $(find "$cache" -name '*.pt' ! -name '*.partial*' | wc -l) finished and \
$(find "$cache" -name '*.partial*.pt' | wc -l) interrupted trainings' files in $name.tar.gz" ;;
    *)
        say "unknown stage $stage (tests, iwgan, bench, split, page)"; exit 2 ;;
    esac
done
say "done"
