#!/usr/bin/env bash
# Every GPU figure (issues 22 and 23) in one short run on a lent GPU machine (its image has torch, timm,
# xarray, pandas and scikit-learn). Carry the other wheels (cp312, installed with --no-deps) in
# ./wheels: microsoft-aurora, dask, distributed, zarr, numcodecs, donfig, google-crc32c, partd,
# locket, tblib, cftime, lazy-importer, threadpoolctl and a current xarray. Writes to $OUT (or
# ./gpu-figures): one log per figure.
set -u
out="${OUT:-gpu-figures}"
mkdir -p "$out"
if [ -d wheels ]; then python -m pip install -q --no-deps wheels/*.whl; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/device.txt"
run() {  # name, seconds, command…
  local name=$1 limit=$2; shift 2
  echo "== $name" | tee -a "$out/summary.txt"
  timeout "$limit" "$@" > "$out/$name.log" 2>&1
  echo "exit $?" >> "$out/$name.log"
  grep -E "x the encoder|samples/s|tokens/s|first submodule|no submodule|e-0|ratio|rate" "$out/$name.log" \
    | tail -20 | tee -a "$out/summary.txt"
}
# the most wanted first; limits sum to 560 s, inside one device call (600 s at most)
run bench_gpu_025_bf16 200 python benchmarks/bench_gpu.py --grid 0.25 --device cuda --skip-lrp \
  --repeats 2
run check_gpu_tiny 60 python benchmarks/check_gpu.py --model tiny
run sae_cuda_bf16 50 python benchmarks/bench_sae.py --device cuda --steps 1000 --autocast
run sae_cuda 50 python benchmarks/bench_sae.py --device cuda --steps 1000
run embed_prefetch_cuda 80 python benchmarks/bench_embed_prefetch.py --device cuda
run check_gpu_full 120 python benchmarks/check_gpu.py --model aurora-0.25-pretrained --grid 0.25
