#!/usr/bin/env bash
# Every GPU benchmark in one budgeted run (about 9 minutes on one H100; the composition benchmark only with COMPOSITION_S=seconds), results under OUT (default results/gpu).
#   bash benchmarks/gpu_all.sh                 # a CUDA machine; Fashion-MNIST under ./data or the usual places
#   TINY=1 bash benchmarks/gpu_all.sh          # CPU dry run of the same steps on digits (a few minutes)
# Each step has its own time limit, so one failure or overrun costs that step only.
set -u
OUT=${OUT:-results/gpu}
PY=${PYTHON:-python3}
export PYTHONPATH=${PYTHONPATH:-src} PYTHONUNBUFFERED=1
mkdir -p "$OUT"
if [ -n "${TINY:-}" ]; then T="--tiny"; DEV="--device cpu"; else T=""; DEV=""; fi
step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  echo "=== $name (limit ${limit}s) $(date +%T)"
  local t0=$SECONDS
  timeout -k 10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  echo "=== $name rc=$? in $((SECONDS - t0))s"; tail -n 25 "$OUT/$name.log"
}
"$PY" -c "import torch, sys; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')" | tee "$OUT/machine.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >> "$OUT/machine.txt" 2>/dev/null
step gpu_check "${GPU_CHECK_S:-175}" "$PY" -m benchmarks.gpu_check $T $DEV --data-dir ./data --budget-seconds "$(( ${GPU_CHECK_S:-175} - 20 ))" --out "$OUT/gpu_check"
# the later steps use CUDA graphs only where gpu_check just measured them faster with the same accuracy
export LANGEVIN_CUDA_GRAPHS=$("$PY" - "$OUT/gpu_check/gpu_check.json" <<'PYEOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))["decision"]
    ok = (d.get("langevin graphs speedup", 0) > 1.05 and d.get("langevin |forget_acc graphs - eager|", 1) <= 0.02
          and d.get("langevin |remain_acc graphs - eager|", 1) <= 0.01 and d.get("graphs/eager batch 64 fp32", 0) > 1.05)
except Exception:
    ok = False
print(1 if ok else 0)
PYEOF
)
echo "LANGEVIN_CUDA_GRAPHS=$LANGEVIN_CUDA_GRAPHS" | tee -a "$OUT/machine.txt"
step ablation "${ABLATION_S:-270}" "$PY" -m studies.fmnist_ablation $T $DEV --budget-seconds "$(( ${ABLATION_S:-270} - 30 ))" --reserve-heldout "$(( ${ABLATION_S:-270} / 3 ))" --no-progress --runs-dir runs/bench_fmnist --out "$OUT/ablation"
step audit "${AUDIT_S:-85}" "$PY" -m studies.fmnist_audit $T $DEV --n "${AUDIT_N:-4}" --budget-seconds "$(( ${AUDIT_S:-85} - 15 ))" --out "$OUT/audit/fmnist_audit.md" --cache runs/bench_fmnist_audit
[ "${COMPOSITION_S:-0}" -gt 0 ] && step composition "${COMPOSITION_S:-0}" "$PY" -m studies.fmnist_composition $T $DEV --budget-seconds "$(( ${COMPOSITION_S:-60} - 10 ))" --runs-dir runs/bench_composition --out "$OUT/composition"
echo "=== done $(date +%T)"
