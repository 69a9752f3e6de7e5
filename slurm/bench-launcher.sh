#!/usr/bin/env bash
# Launcher benchmark (prints figures; not a test): wall time of a 200-run dry run, of launching a
# 50-run array on the local Slurm (submission only, then until every run finished), and of
# `status` on 1,000 run folders. Needs `bash slurm/local-cluster.sh start` and the venv.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/rb-bench-launcher.XXXXXX)
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

seeds200=$(python -c 'print(list(range(50)))')
t0=$(now)
resnext-bench launch ablations/demo.yaml --cluster slurm/local.yaml --sweep-dir "$work/dry" --dry-run \
    --set "seeds=$seeds200" >/dev/null
t1=$(now)
echo "dry run, 200 runs (4 configurations x 50 seeds): $(secs "$t0" "$t1") s"

seeds50=$(python -c 'print(list(range(25)))')
t0=$(now)
resnext-bench launch ablations/demo.yaml --cluster slurm/local.yaml --sweep-dir "$work/real" \
    --set "seeds=$seeds50" --set 'cardinalities=[1, 2]' --set recipe.epochs=1 \
    --set data.train_limit=64 --set data.val_limit=64 >/dev/null
t1=$(now)
echo "launch, 50-run array on the local Slurm (submission): $(secs "$t0" "$t1") s"
until resnext-bench status "$work/real" --format csv | awk -F, 'NR > 1 && ($4 == "pending" || $4 == "running") { busy = 1 } END { exit busy }'; do
    sleep 2
done
t2=$(now)
echo "  ... until all 50 runs finished: $(secs "$t0" "$t2") s ($(resnext-bench status "$work/real" | tail -1))"

python - "$work/real" "$work/many" <<'PY'
import shutil, sys
from pathlib import Path
src = sorted((Path(sys.argv[1]) / "runs").iterdir())
for i in range(1000):
    shutil.copytree(src[i % len(src)], Path(sys.argv[2]) / "runs" / f"{src[i % len(src)].name}-copy{i}")
PY
t0=$(now)
resnext-bench status "$work/many" >/dev/null
t1=$(now)
echo "status, 1,000 run folders (one squeue call): $(secs "$t0" "$t1") s"
