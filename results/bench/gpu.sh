#!/usr/bin/env bash
# The prepared GPU measurement: ONE call on a fresh machine with one CUDA GPU, from the repository root,
# within about 9 minutes (RB_BUDGET_S, default 540 s, bounds every step). By default it runs install, env
# and e2e (the end-to-end training measurement); RB_STEPS picks others (the first GPU proof ran
# "install,env,tests,eager,loader,parity,compiled,table"):
#
#   e2e       python -m resnext_bench.bench.e2e: a pack of 12,800 ImageNet-sized JPEGs (512 unique ones,
#             hard-linked), then the engine's own `train` of resnext50_32x4d and resnet50, 2 epochs of batch
#             256, bf16 + channels_last, through each input backend (nvjpeg with 3 loader workers, i.e. 4
#             CPU cores; turbo and pil with up to 12), eager and compiled, one bounded process a trial
#             (RB_E2E_TRIALS: MODEL:BACKEND:eager|compile ...), most important first; e2e.jsonl (one line a
#             trial) and e2e.md: epoch-2 img/s, MFU, data-wait share, CUDA peak memory.
#
#   install   RB_INSTALL=machine (the default with --device cuda: GPU machines here have no package index):
#             the machine's python3 (RB_PY) with its own torch, the carried wheels (RB_WHEELS, default .whl:
#             fvcore, iopath, yacs, termcolor, submitit, simplejpeg for its Python) installed --no-index into
#             /tmp/rb-site, and the repository on PYTHONPATH.
#             RB_INSTALL=venv: a venv (.venv, or RB_VENV) that sees the machine's own packages, then pip install
#             torch==2.14.1 torchvision==0.29.1 and -e '.[test]' from an index; a warm rerun skips it.
#   env       nvidia-smi, torch / CUDA / cuDNN versions, the device name
#   tests     python -m pytest -q -m cuda tests/test_cuda.py tests/test_decode.py -rs (bf16 + channels_last
#             training, eager and compiled; stop mid-epoch and resume; the env launch path; nvjpeg decoding
#             of an ImageFolder against the PIL reference), with a timeout
#   eager     throughput, ours vs timm vs torchvision, resnext50_32x4d then resnet50: batch 256, 224 px,
#             bf16 autocast + channels_last, eager (one bench call per architecture)
#   loader    resnext-bench loader-bench on 512 generated ImageNet-sized JPEGs: images/s per core of each CPU
#             backend, nvjpeg's GPU images/s and CPU cost, cores per GPU at the eager resnext50 training rate
#   parity    python -m resnext_bench.bench.parity: a small ResNeXt trained through pil on digits-as-JPEGs,
#             evaluated through pil, turbo and nvjpeg (top-1 error, predictions that change)
#   compiled  the same with torch.compile (RB_COMPILE_ARCHS, default resnext50_32x4d), each call bounded by
#             `timeout` and by the time left
#   table     results/bench/gpu_check.py: a Markdown table of train img/s, ours/timm, MFU % against
#             the card's dense BF16 peak (H100/H200: 989 TFLOP/s), peak memory
#
# Everything goes to $OUT (default ./gpu-out): gpu.log (every step's output), steps.tsv (step, exit
# code, seconds), the bench CSVs and table.md -- at most 8 files, as the device tool brings back.
# Each step runs whatever the previous one did; the script exits 1 when any step failed, timed out
# (exit 124) or was not started for lack of time (exit 125).
#
#   bash results/bench/gpu.sh                       # on the GPU machine
#   OUT=/tmp/r bash results/bench/gpu.sh --device cpu   # dry rehearsal on a CPU: reuses an existing
#                                                   # .venv, RB_TEST_DEVICE=cpu, tiny bench shapes
#   OUT=/tmp/r RB_PY=.venv/bin/python bash results/bench/gpu.sh --smoke   # the e2e steps on a CPU at tiny
#                                                   # size (tests/test_gpu_script.py runs it)
# Knobs: RB_DEVICE (cuda|cpu, or --device), RB_BUDGET_S, RB_STEPS (e.g. "env,eager,compiled,table" for
# a rerun on a warm machine), RB_VENV, RB_WHEELS, RB_PIP_ARGS (extra pip options), RB_COMPILE_TIMEOUT_S.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
START=$(date +%s)

DEVICE=${RB_DEVICE:-cuda}
SMOKE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE=${2:?--device needs cuda or cpu}; shift 2 ;;
        --device=*) DEVICE=${1#--device=}; shift ;;
        --smoke) SMOKE=1; DEVICE=cpu; shift ;;
        -h|--help) sed -n '2,45p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (expected --device cuda|cpu, or --smoke)" >&2; exit 2 ;;
    esac
done
case "$DEVICE" in cuda|cpu) ;; *) echo "--device: expected cuda or cpu, got $DEVICE" >&2; exit 2 ;; esac

OUT=${OUT:-./gpu-out}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 2
LOG=$OUT/gpu.log
STEPS=$OUT/steps.tsv
: >"$LOG"
printf 'step\texit\tseconds\n' >"$STEPS"
BUDGET=${RB_BUDGET_S:-$([ "$DEVICE" = cpu ] && echo 900 || echo 540)}  # the CPU compiles for minutes
DEADLINE=$((START + BUDGET))
RESERVE=40  # seconds kept for the table and the summary until the table step
WANT=",${RB_STEPS:-$([ "$SMOKE" = 1 ] && echo env,e2e || echo install,env,e2e)},"
INSTALL=${RB_INSTALL:-$([ "$DEVICE" = cuda ] || [ "$SMOKE" = 1 ] && echo machine || echo venv)}
VENV=${RB_VENV:-.venv}
WHEELS=${RB_WHEELS:-.whl}
PY=$VENV/bin/python
[ "$INSTALL" = machine ] && PY=${RB_PY:-python3}
export PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
export CUBLAS_WORKSPACE_CONFIG=${CUBLAS_WORKSPACE_CONFIG:-:4096:8}  # the deterministic resume test needs it
FAILED=0

log() { echo "$*" | tee -a "$LOG"; }
wanted() { [[ $WANT == *",$1,"* ]]; }

# step NAME CAP_SECONDS COMMAND...: run with a timeout of min(CAP, time left - RESERVE), output to the
# log, exit code and duration to steps.tsv. A step with under 20 s left is not started (exit 125).
step() {
    local name=$1 cap=$2 left limit rc t0
    shift 2
    left=$((DEADLINE - $(date +%s) - RESERVE))
    limit=$((cap < left ? cap : left))
    log ""
    log "=== $name (limit ${limit}s, $(( $(date +%s) - START ))s into the run): $*"
    t0=$(date +%s)
    if [ "$limit" -lt 20 ]; then
        log "--- $name: not started, ${left}s left of the ${BUDGET}s budget"
        rc=125
    else
        timeout --kill-after=15 "$limit" "$@" 2>&1 | tee -a "$LOG"
        rc=${PIPESTATUS[0]}
    fi
    local secs=$(( $(date +%s) - t0 ))
    printf '%s\t%s\t%s\n' "$name" "$rc" "$secs" >>"$STEPS"
    log "--- $name: exit $rc after ${secs}s$([ "$rc" = 124 ] && echo ' (timed out)')"
    [ "$rc" = 0 ] || FAILED=1
    return "$rc"
}

log "gpu.sh --device $DEVICE: $(date -u +%FT%TZ), repo $(pwd), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), OUT=$OUT, budget ${BUDGET}s"

# ---------------------------------------------------------------- install
venv_ready() {  # the venv imports the project (and, for cuda, sees a GPU)
    [ -x "$PY" ] && "$PY" - "$DEVICE" >/dev/null 2>&1 <<'EOF'
import sys, torch, torchvision, timm, fvcore, sklearn, pytest, resnext_bench
assert sys.argv[1] == "cpu" or torch.cuda.is_available()
EOF
}

if wanted install && [ "$INSTALL" = machine ]; then
    SITE=/tmp/rb-site
    if compgen -G "$WHEELS/*.whl" >/dev/null; then
        # One wheel at a time: a wheel for another Python (a rehearsal on this CPU) fails alone.
        step wheels 120 bash -c 'rc=0; for w in "$@"; do "$0" -m pip install -q --no-index --no-deps --no-compile \
            --no-cache-dir --upgrade --target '"$SITE"' "$w" || rc=1; done; exit $rc' "$PY" "$WHEELS"/*.whl
    else
        log "=== install: no wheels in $WHEELS: the machine's packages only"
    fi
    export PYTHONPATH="$SITE:$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
    log "PYTHONPATH=$PYTHONPATH"
elif wanted install; then
    if [ "$DEVICE" = cpu ] && [ -x "$PY" ]; then
        log "=== install: skipped (--device cpu and $VENV exists: its torch is used as it is)"
        printf 'install\tskipped\t0\n' >>"$STEPS"
    elif venv_ready; then
        log "=== install: skipped ($VENV already imports the project and sees the GPU: a warm rerun)"
        printf 'install\tskipped\t0\n' >>"$STEPS"
    else
        if [ ! -x "$PY" ]; then
            step venv 60 python3 -m venv --system-site-packages "$VENV"
            # The GPU image's python3 is itself a venv (its torch, triton, nvidia-* and the rest live in
            # that venv, not in the base interpreter that --system-site-packages exposes): layer its
            # site-packages under ours, so what pip cannot fetch is taken from the machine.
            "$PY" - "$(python3 -c 'import site; print(":".join(site.getsitepackages()))')" <<'EOF' 2>&1 | tee -a "$LOG"
import sys, sysconfig
from pathlib import Path
base = [p for p in sys.argv[1].split(":") if p and Path(p).is_dir() and p not in sys.path]
if base:
    pth = Path(sysconfig.get_paths()["purelib"]) / "_rb_machine_site.pth"
    pth.write_text("import site; " + "; ".join(f"site.addsitedir({p!r})" for p in base) + "\n")
    print(f"layered under the venv: {', '.join(base)}")
EOF
        fi
        if compgen -G "$WHEELS/*.whl" >/dev/null; then
            step wheels 120 "$PY" -m pip install -q --no-index --no-deps "$WHEELS"/*.whl
        fi
        # shellcheck disable=SC2086
        step pip-torch 240 "$PY" -m pip install ${RB_PIP_ARGS:-} torch==2.14.1 torchvision==0.29.1
        # Build with the setuptools already there when it can build an editable wheel by itself (>= 70.1,
        # or with `wheel` beside it): an isolated build must fetch one.
        isolation=$("$PY" -c '
import importlib.util, sys, setuptools
v = tuple(int(x) for x in setuptools.__version__.split(".")[:2])
sys.exit(0 if v >= (70, 1) or importlib.util.find_spec("wheel") else 1)' >/dev/null 2>&1 && echo --no-build-isolation)
        # shellcheck disable=SC2086
        if ! step pip-project 180 "$PY" -m pip install ${RB_PIP_ARGS:-} $isolation -e '.[test]'; then
            # No index for the rest of the dependencies: the project alone, on what the machine has; if
            # even that cannot be built, the repository goes on the venv's path as it is.
            # shellcheck disable=SC2086
            if ! step pip-project-nodeps 120 "$PY" -m pip install ${RB_PIP_ARGS:-} --no-deps $isolation -e .; then
                site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
                pwd >"$site/_rb_repo.pth" && log "no editable install: $(pwd) is on the venv's path ($site/_rb_repo.pth)"
            fi
        fi
    fi
fi
if [ "$INSTALL" = machine ] && [[ ${PYTHONPATH:-} != *"$(pwd)"* ]]; then
    export PYTHONPATH="/tmp/rb-site:$(pwd)${PYTHONPATH:+:$PYTHONPATH}"  # a rerun without the install step
fi
if ! command -v "$PY" >/dev/null; then
    log "no python at $PY: nothing else can run"
    FAILED=1
fi

# ---------------------------------------------------------------- environment
if wanted env; then
    if [ "$DEVICE" = cuda ]; then
        step nvidia-smi 30 nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,power.limit \
            --format=csv
    fi
    step versions 60 "$PY" - "$DEVICE" <<'EOF'
import importlib, platform, sys, torch
print(f"python {platform.python_version()} at {sys.executable}")
print(f"torch {torch.__version__} (from {torch.__file__}), CUDA {torch.version.cuda}, "
      f"cuDNN {torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None}")
for name in ("torchvision", "timm", "fvcore", "resnext_bench"):
    try:
        m = importlib.import_module(name)
        print(f"{name} {getattr(m, '__version__', '?')} ({m.__file__})")
    except Exception as e:  # report every missing piece, then fail
        print(f"{name}: NOT IMPORTABLE ({type(e).__name__}: {e})")
        sys.exit(1)
if sys.argv[1] == "cuda":
    assert torch.cuda.is_available(), "torch sees no CUDA device"
    p = torch.cuda.get_device_properties(0)
    print(f"device: {torch.cuda.get_device_name(0)}, capability {p.major}.{p.minor}, "
          f"{p.total_memory / 2**30:.1f} GiB, {p.multi_processor_count} SMs, {torch.cuda.device_count()} visible")
EOF
fi

# ---------------------------------------------------------------- tests
if wanted tests; then
    RB_TEST_DEVICE=$DEVICE step tests 240 "$PY" -m pytest -q -p no:cacheprovider -m cuda tests/test_cuda.py \
        tests/test_decode.py -rs -s --durations=0
fi

# ---------------------------------------------------------------- end to end
if wanted e2e; then
    E2E_WORK=${RB_E2E_WORK:-/tmp/rb-e2e}
    smoke=()
    [ "$DEVICE" = cpu ] && smoke=(--smoke)  # a CPU runs the tiny sizes only
    if [ "$DEVICE" = cuda ]; then
        default_trials="resnext50_32x4d:nvjpeg:eager resnet50:nvjpeg:eager resnext50_32x4d:nvjpeg:compile \
resnet50:nvjpeg:compile resnext50_32x4d:turbo:eager resnet50:turbo:eager resnext50_32x4d:pil:eager \
resnet50:pil:eager resnext50_32x4d:turbo:compile resnext50_32x4d:pil:compile"
    else  # nvjpeg decodes on a GPU only (its CPU twin is tested in tests/test_decode.py)
        default_trials="resnext50_32x4d:turbo:eager resnet50:pil:eager"
    fi
    : >"$OUT/e2e.jsonl"
    if step e2e-prepare 150 "$PY" -m resnext_bench.bench.e2e prepare --work "$E2E_WORK" "${smoke[@]}"; then
        for trial in ${RB_E2E_TRIALS:-$default_trials}; do
            IFS=: read -r model backend mode <<<"$trial"
            flags=(--model "$model" --backend "$backend" --device "$DEVICE")
            cap=${RB_E2E_EAGER_TIMEOUT_S:-90}
            if [ "$mode" = compile ]; then flags+=(--compile); cap=${RB_E2E_COMPILE_TIMEOUT_S:-180}; fi
            [ "$backend" = nvjpeg ] && flags+=(--workers 3)  # 4 CPU cores in all: the GPU decodes
            step "e2e-$model-$backend-$mode" "$cap" "$PY" -m resnext_bench.bench.e2e run --work "$E2E_WORK" \
                "${smoke[@]}" "${flags[@]}" --results "$OUT/e2e.jsonl"
        done
    fi
    RESERVE=5
    step e2e-table 30 "$PY" -m resnext_bench.bench.e2e report "$OUT/e2e.jsonl" --out "$OUT/e2e.md"
    RESERVE=40
fi

# ---------------------------------------------------------------- throughput
if [ "$DEVICE" = cuda ]; then
    shape=(--device cuda --batch-size 256 --img-size 224)
    eager_run=(--repeats 5 --warmup 10 --steps 20)
    compiled_run=(--repeats 3 --warmup 10 --steps 20)
    compile_cap=${RB_COMPILE_TIMEOUT_S:-300}
else  # a rehearsal: the same commands at a size a 2-core CPU finishes in seconds
    shape=(--device cpu --batch-size 2 --img-size 64 --threads 1)
    eager_run=(--repeats 1 --warmup 1 --steps 1)
    compiled_run=(--repeats 1 --warmup 1 --steps 1)
    compile_cap=${RB_COMPILE_TIMEOUT_S:-240}
fi
families=(resnext50_32x4d resnet50)
if wanted eager; then
    for arch in "${families[@]}"; do
        step "eager-$arch" 180 "$PY" -m resnext_bench.bench.throughput "$arch" "timm:$arch" "torchvision:$arch" \
            "${shape[@]}" --settings bf16+cl "${eager_run[@]}" --out "$OUT/eager-$arch.csv"
    done
fi
if wanted loader; then
    # The training rate the input must keep up with: our resnext50's, from the eager CSV of this run.
    ips=$("$PY" - "$OUT/eager-resnext50_32x4d.csv" 2>/dev/null <<'EOF'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["model"] == "resnext50_32x4d"]
print(f"{float(rows[0]['train_samples_per_sec']):.0f}")
EOF
)
    if [ "$DEVICE" = cuda ]; then lb=(--images 512 --repeats 3); else lb=(--images 24 --repeats 1 --size 64); fi
    step loader 150 "$PY" -m resnext_bench.bench.loader "${lb[@]}" --data /tmp/rb-loader-bench \
        ${ips:+--train-ips "$ips"} --out "$OUT/loader.md"
fi
if wanted parity && [ "$DEVICE" = cuda ]; then
    step parity 120 "$PY" -m resnext_bench.bench.parity --device cuda --epochs 15 --out "$OUT/parity.md"
fi
if wanted compiled; then
    # Compilation (inside the warm-up) can take minutes per model: each architecture is its own call,
    # bounded, so a slow compile loses one CSV, not all of them.
    read -r -a compile_archs <<<"${RB_COMPILE_ARCHS:-resnext50_32x4d}"
    for arch in "${compile_archs[@]}"; do
        step "compiled-$arch" "$compile_cap" "$PY" -m resnext_bench.bench.throughput "$arch" "timm:$arch" \
            "torchvision:$arch" "${shape[@]}" --settings bf16+cl+compile "${compiled_run[@]}" \
            --out "$OUT/compiled-$arch.csv"
    done
fi

# ---------------------------------------------------------------- table
if wanted table; then
    RESERVE=5
    csvs=()
    for kind in eager compiled; do
        for arch in "${families[@]}"; do
            [ -f "$OUT/$kind-$arch.csv" ] && csvs+=("$OUT/$kind-$arch.csv")
        done
    done
    step table 60 "$PY" results/bench/gpu_check.py "${csvs[@]:-$OUT/none.csv}" --out "$OUT/table.md"
fi

log ""
log "=== steps (exit 124: timed out, 125: not started for lack of time)"
column -t -s $'\t' "$STEPS" 2>/dev/null | tee -a "$LOG" || tee -a "$LOG" <"$STEPS"
log "total $(( $(date +%s) - START ))s; $([ "$FAILED" = 0 ] && echo 'every step passed' || echo 'SOME STEP FAILED')"
exit "$FAILED"
