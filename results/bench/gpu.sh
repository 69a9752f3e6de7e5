#!/usr/bin/env bash
# The prepared GPU benchmark (issue: compare ours, timm and torchvision on a GPU): run once on a
# machine with one CUDA GPU from the repository root, with the project installed. Eager first
# (always finishes), then compiled (bounded: compilation may take minutes per model).
# Writes results/bench/gpu-*.csv; copy what it prints into results/bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
name=$(python -c 'import torch; print(torch.cuda.get_device_name().replace(" ", "-"))')
models="resnext50_32x4d timm:resnext50_32x4d torchvision:resnext50_32x4d resnet50 timm:resnet50 torchvision:resnet50"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python -m resnext_bench.bench.throughput $models --device cuda --batch-size 256 --img-size 224 \
    --settings bf16+cl bf16 --repeats 5 --warmup 10 --steps 20 \
    --out "results/bench/gpu-$name-eager.csv"
timeout "${RB_COMPILE_TIMEOUT_S:-420}" python -m resnext_bench.bench.throughput $models --device cuda --batch-size 256 \
    --img-size 224 --settings bf16+cl+compile --repeats 3 --warmup 10 --steps 20 \
    --out "results/bench/gpu-$name-compiled.csv" || echo "compiled run stopped (timeout or error): eager CSV stands"
