#!/usr/bin/env bash
# HyperCT at paper scale on one GPU, in one short run (a few minutes on an H100/H200):
# the bf16 matmul floor of the GPU, a training step at batch 8 x 55 images (time, peak memory),
# the 25-task prediction of one CT, and batch prediction throughput.
# Writes benchmarks/results/gpu_hyperct.json and benchmarks/results/floor_cuda.json.
#
#   bash benchmarks/gpu.sh                 # from the repository root
#   PYTHON=/path/to/python bash benchmarks/gpu.sh
#
# The models need only torch and transformers. A python that already has a CUDA torch is used
# as it is, with this checkout's src/ on PYTHONPATH; otherwise a venv .venv-gpu is created and
# torch, transformers and safetensors are installed from the package registry.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c "import torch, transformers; assert torch.cuda.is_available()" 2>/dev/null; then
    echo "no CUDA torch in $PYTHON: creating .venv-gpu" >&2
    python3 -m venv .venv-gpu
    .venv-gpu/bin/pip install --quiet torch "transformers>=5.0,<6" safetensors einops pyyaml
    PYTHON=.venv-gpu/bin/python
fi
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

"$PYTHON" -c "import torch; print('torch', torch.__version__, 'on', torch.cuda.get_device_name(0))"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PYTHON" -m benchmarks.floor --device cuda
"$PYTHON" -m benchmarks.gpu --device cuda --repeats "${REPEATS:-5}"
