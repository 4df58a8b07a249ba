#!/usr/bin/env bash
# gpu-check.sh — burngan's checks for a machine with an NVIDIA GPU and no internet, run with a
# release binary built elsewhere and carried over. In under 10 minutes it
#   (a) prints `nvidia-smi`, `vulkaninfo --summary` (each if present) and `burngan info`;
#   (b) runs the cross-backend regression: `burngan train` of assets/configs/ring8-ns.toml for
#       --steps N (default 200, every step logged) on flex and on wgpu over the GPU's Vulkan
#       driver, then compares the losses with scripts/compare_metrics.py: relative 1e-4 up to
#       step 40, 1e-2 after it (training amplifies rounding differences: flex against lavapipe
#       measured 4.8e-6 by step 40, 1.3e-4 at step 72, 1.8e-3 at most over 200 steps);
#   (c) runs scripts/bench_compare.py --quick: `burngan bench --backend wgpu` against PyTorch
#       CUDA eager, interleaved in rounds, at batch 64 and 512;
#   (d) writes BENCHMARKS-gpu.md (or --report FILE) from what (a)-(c) found.
# Time caps (coreutils `timeout`): each training run 120 s, the benchmark 330 s, so the check ends
# within 10 minutes even when a part hangs; a benchmark cut short still reports its finished runs. Each part says why and skips when its prerequisite
# is missing (no NVIDIA GPU, no Vulkan loader or driver, no PyTorch with CUDA); a part that runs
# and fails makes the script exit 1 at the end.
#
# Usage (from the repository root):
#   bash scripts/gpu-check.sh [--burngan PATH] [--steps N] [--workload W[,W]|all]
#                             [--report FILE] [--out DIR] [--allow-cpu-vulkan] [--dry-run]
#   --workload W        the benchmark's workloads (default mnist-dcgan,mnist-dcgan-gp, those of
#                       the GPU targets, to keep the check well inside its 10 minutes)
#   --burngan PATH      the carried binary (default /tmp/bench-bin/burngan, else
#                       .gpu/burngan(.gz)); a .gz or .zst file is unpacked to /tmp first
#   --allow-cpu-vulkan  run (b) and (c) even when wgpu's adapter is a CPU (Mesa's lavapipe),
#                       with PyTorch on the CPU: a plumbing test for machines without a GPU
#   --train-cap S, --bench-cap S  time caps of each training run (120 s) and of (c) (330 s)
#   --dry-run           print the commands of (b) and (c) instead of running them
# Exit codes: 0 every part that ran passed (parts may have been skipped); 1 a part failed;
# 2 bad arguments.
#
# Carrying the binary: an unstripped release binary is ~780 MB, over the device tool's 64 MiB;
# stripped it is ~113 MB, and compressed ~32 MB (gzip -6) or ~22 MB (zstd -19):
#   echo /.gpu/ >> .git/info/exclude; mkdir -p .gpu
#   strip -o .gpu/burngan target/release/burngan && gzip -f .gpu/burngan
# then carry .gpu (and .gl, the Vulkan loader .debs of /work/.library/device/README.md, when the
# machine has no libvulkan.so.1) and run `bash scripts/gpu-check.sh --burngan .gpu/burngan.gz`.
#
# CUDA: builds with `--features cuda` need the LLVM bundle of cubecl-llvm at build time (it is
# downloaded by its build script, so they cannot be built offline); on a binary that has it, the
# same checks run with the cuda backend — uncomment the lines marked "cuda path" below.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BURNGAN=""
STEPS=200
STRICT_STEPS=40 # steps held to 1e-4; later ones to 1e-2 (see the header)
TRAIN_CAP=120   # seconds per training run of (b)
BENCH_CAP=330   # seconds for (c)
WORKLOADS=mnist-dcgan,mnist-dcgan-gp # the workloads of the GPU targets (issue 24)
OUT=/tmp/gpu-check
REPORT="$ROOT/BENCHMARKS-gpu.md"
ALLOW_CPU=0
DRY_RUN=0
PYTHON=${PYTHON:-python3}
FAILED=()
SKIPPED=()
START=$SECONDS

usage_error() {
  echo "gpu-check.sh: $1" >&2
  echo "usage: bash scripts/gpu-check.sh [--burngan PATH] [--steps N] [--workload W|all]" \
    "[--report FILE] [--out DIR] [--train-cap S] [--bench-cap S] [--allow-cpu-vulkan]" \
    "[--dry-run]  (--help for more)" >&2
  exit 2
}

parse_args() {
  while (($#)); do
    case "$1" in
      --burngan | --steps | --workload | --report | --out | --train-cap | --bench-cap)
        (($# >= 2)) || usage_error "$1 needs a value"
        case "$1" in
          --burngan) BURNGAN=$2 ;;
          --steps) STEPS=$2 ;;
          --workload) WORKLOADS=$2 ;;
          --report) REPORT=$2 ;;
          --out) OUT=$2 ;;
          --train-cap) TRAIN_CAP=$2 ;;
          --bench-cap) BENCH_CAP=$2 ;;
        esac
        shift 2 ;;
      --allow-cpu-vulkan) ALLOW_CPU=1; shift ;;
      --dry-run) DRY_RUN=1; shift ;;
      -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "${BASH_SOURCE[0]}"; exit 0 ;;
      *) usage_error "unknown argument '$1'; see --help" ;;
    esac
  done
  local flag value
  for flag in steps:$STEPS train-cap:$TRAIN_CAP bench-cap:$BENCH_CAP; do
    value=${flag#*:}
    [[ $value =~ ^[1-9][0-9]*$ ]] ||
      usage_error "--${flag%%:*} '$value': give a whole number >= 1, e.g. --${flag%%:*} 200"
  done
}

say() { printf '\n== %s\n' "$*"; }
skip() { echo "SKIP: $*"; SKIPPED+=("$*"); }
fail() { echo "FAIL: $*" >&2; FAILED+=("$*"); }

# Runs a command, or prints it under --dry-run.
run() {
  if ((DRY_RUN)); then
    printf 'dry-run:'; printf ' %q' "$@"; echo
  else
    "$@"
  fi
}

# The binary to use: --burngan, else a copy in /tmp/bench-bin or .gpu/; unpacks .gz / .zst.
find_binary() {
  local candidate
  if [[ -z $BURNGAN ]]; then
    for candidate in /tmp/bench-bin/burngan "$ROOT/.gpu/burngan" "$ROOT/.gpu/burngan.gz" \
      "$ROOT/.gpu/burngan.zst"; do
      [[ -e $candidate ]] && BURNGAN=$candidate && break
    done
  fi
  [[ -n $BURNGAN && -e $BURNGAN ]] ||
    usage_error "no burngan binary (--burngan '${BURNGAN}'); build one with cargo build --release and carry it (see the header of this script)"
  case "$BURNGAN" in
    *.gz) gzip -dc "$BURNGAN" > /tmp/burngan-carried; BURNGAN=/tmp/burngan-carried ;;
    *.zst)
      command -v zstd > /dev/null || usage_error "--burngan $BURNGAN: zstd is not installed here; carry a .gz instead"
      zstd -dqf "$BURNGAN" -o /tmp/burngan-carried; BURNGAN=/tmp/burngan-carried ;;
  esac
  chmod +x "$BURNGAN"
}

# The Vulkan loader and the NVIDIA driver's manifest, as /work/.library/device/README.md says.
setup_vulkan() {
  if ! ldconfig -p 2> /dev/null | grep -q 'libvulkan\.so\.1'; then
    if compgen -G "$ROOT/.gl/*.deb" > /dev/null; then
      echo "no Vulkan loader installed: unpacking the carried .gl/*.deb"
      local deb
      for deb in "$ROOT"/.gl/*.deb; do dpkg -x "$deb" /; done
      ldconfig
    else
      echo "no Vulkan loader (libvulkan.so.1) and no carried .gl/*.deb: wgpu will find no device"
    fi
  fi
  local icd
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json \
    /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    if [[ -z ${VK_DRIVER_FILES:-} && -f $icd ]]; then
      export VK_DRIVER_FILES=$icd # pins the Vulkan loader (and so wgpu) to NVIDIA's driver
      echo "VK_DRIVER_FILES=$icd"
    fi
  done
  export NODEVICE_SELECT=1 # Mesa's device-select layer wants a display; burngan needs none
}

# (a) what this machine has.
part_info() {
  say "(a) the machine"
  if command -v nvidia-smi > /dev/null; then nvidia-smi || true; else echo "nvidia-smi: not installed (no NVIDIA driver here)"; fi
  if command -v vulkaninfo > /dev/null; then vulkaninfo --summary 2>&1 || true; else echo "vulkaninfo: not installed (apt-get install vulkan-tools where a network is)"; fi
  "$BURNGAN" info 2>&1 | tee "$OUT/info.txt" || true
  if [[ $(wgpu_adapter) == gpu ]] && ! grep -E '^wgpu ' "$OUT/info.txt" | grep -q Vulkan; then
    skip "(note) wgpu reaches the GPU without Vulkan (OpenGL?): no Vulkan loader or driver; the results below are not Vulkan's"
  fi
}

# The adapter burngan's wgpu backend finds: "gpu", "cpu" or "none".
wgpu_adapter() {
  local line
  line=$(grep -E '^wgpu ' "$OUT/info.txt" || true)
  if [[ -z $line || $line != *yes* || $line == *unavailable* ]]; then echo none
  elif [[ $line == *"(Cpu,"* ]]; then echo cpu
  else echo gpu
  fi
}

# Whether (b) and (c) may use wgpu here; prints the reason when not.
wgpu_usable() {
  case "$(wgpu_adapter)" in
    gpu) return 0 ;;
    cpu) ((ALLOW_CPU)) && return 0
      echo "wgpu's only adapter is a CPU driver (lavapipe); pass --allow-cpu-vulkan to run anyway"; return 1 ;;
    *) echo "wgpu has no adapter (no Vulkan loader or driver; see the header)"; return 1 ;;
  esac
}

# (b) flex against wgpu: the same config and seed must give the same losses.
part_regression() {
  say "(b) cross-backend regression: ring8-ns, $STEPS steps, flex vs wgpu"
  local why backend
  if ! why=$(wgpu_usable); then skip "(b) regression: $why"; return; fi
  COMPARE=(--tolerance 1e-4 --strict-steps "$STRICT_STEPS" --drift-tolerance 1e-2)
  if ((DRY_RUN)); then
    dry_regression
    return
  fi
  for backend in flex wgpu; do # cuda path: for backend in flex wgpu cuda; do
    echo "training on $backend …"
    local code=0
    timeout "$TRAIN_CAP" "$BURNGAN" train --config "$ROOT/assets/configs/ring8-ns.toml" \
      --backend "$backend" --steps "$STEPS" --log-every 1 --out "$OUT/ring8-$backend" \
      --overwrite > "$OUT/train-$backend.log" 2>&1 || code=$?
    if ((code == 124)); then
      fail "(b) burngan train --backend $backend ran past its ${TRAIN_CAP} s cap (--train-cap)"
    elif ((code != 0)); then
      fail "(b) burngan train --backend $backend failed (exit $code; $OUT/train-$backend.log)"
    fi
    if ((code != 0)); then
      tail -n 15 "$OUT/train-$backend.log" >&2
      return
    fi
  done
  if "$PYTHON" "$ROOT/scripts/compare_metrics.py" "${COMPARE[@]}" \
    "$OUT/ring8-flex/metrics.jsonl" "$OUT/ring8-wgpu/metrics.jsonl" 2>&1 |
    tee "$OUT/regression.txt"; then
    echo "PASS: wgpu matches flex over $STEPS steps" | tee -a "$OUT/regression.txt"
  else
    fail "(b) wgpu differs from flex beyond the tolerance (see above)"
  fi
  # cuda path: "$PYTHON" "$ROOT/scripts/compare_metrics.py" "${COMPARE[@]}" \
  #   "$OUT/ring8-flex/metrics.jsonl" "$OUT/ring8-cuda/metrics.jsonl" || fail "(b) cuda differs"
}

# The commands of (b), printed instead of run.
dry_regression() {
  local backend
  for backend in flex wgpu; do
    run timeout "$TRAIN_CAP" "$BURNGAN" train --config "$ROOT/assets/configs/ring8-ns.toml" \
      --backend "$backend" --steps "$STEPS" --log-every 1 --out "$OUT/ring8-$backend" --overwrite
  done
  run "$PYTHON" "$ROOT/scripts/compare_metrics.py" "${COMPARE[@]}" \
    "$OUT/ring8-flex/metrics.jsonl" "$OUT/ring8-wgpu/metrics.jsonl"
}

# Whether PyTorch sees a CUDA device ("cuda"), only the CPU ("cpu"), or is missing ("none").
torch_device() {
  "$PYTHON" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")' 2> /dev/null || echo none
}

# (c) the interleaved benchmark, wgpu against PyTorch CUDA eager, batch 64 and 512.
part_bench() {
  say "(c) benchmark: burngan wgpu vs PyTorch, interleaved, batch 64 and 512"
  local why device
  if ! why=$(wgpu_usable); then skip "(c) benchmark: $why"; return; fi
  device=$(torch_device)
  if [[ $device == none ]]; then skip "(c) benchmark: PyTorch is not installed for $PYTHON"; return; fi
  if [[ $device == cpu ]] && ((!ALLOW_CPU)); then
    skip "(c) benchmark: PyTorch sees no CUDA device (pass --allow-cpu-vulkan to compare with PyTorch on the CPU)"
    return
  fi
  # shellcheck disable=SC2054 # 64,512 is one argument, not two elements
  local args=(--quick --burngan "$BURNGAN" --backend wgpu --device "$device" --batch 64,512
    --workload "$WORKLOADS" --timeout 300 --json "$OUT/bench.json" --markdown "$OUT/bench.md")
  ((DRY_RUN)) && args+=(--dry-run)
  # cuda path: a second sitting with --backend cuda instead of wgpu.
  local code=0
  timeout "$BENCH_CAP" "$PYTHON" "$ROOT/scripts/bench_compare.py" "${args[@]}" || code=$?
  if ((code == 124)); then
    fail "(c) the benchmark ran past its ${BENCH_CAP} s cap (--bench-cap); the rounds done are reported"
  elif ((code != 0)); then
    fail "(c) scripts/bench_compare.py failed (exit $code; see its message above)"
  fi
}

# (d) BENCHMARKS-gpu.md from the parts' outputs.
part_report() {
  say "(d) report: $REPORT"
  if ((DRY_RUN)); then echo "dry-run: would write $REPORT"; return; fi
  {
    echo "# GPU check"
    echo
    echo "<!-- Generated by scripts/gpu-check.sh on $(date -u '+%Y-%m-%d %H:%M') UTC; run it again rather than editing. -->"
    echo
    echo "## Machine"
    echo
    echo '```'
    if command -v nvidia-smi > /dev/null; then
      nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || true
    else
      echo "no nvidia-smi"
    fi
    grep -E '^(backend|flex|wgpu|cuda) ' "$OUT/info.txt" || true
    echo '```'
    echo
    echo "## Cross-backend regression (ring8-ns, $STEPS steps, flex vs wgpu)"
    echo
    if [[ -f $OUT/regression.txt ]]; then
      sed 's/^/    /' "$OUT/regression.txt"
    else
      echo "No comparison: see Skipped or failed."
    fi
    echo
    if [[ -f $OUT/bench.md ]]; then
      sed -e 's/^## /### /' -e '1s/^# Benchmarks/## Benchmark/' "$OUT/bench.md"
    else
      printf '## Benchmark\n\nNo results: see Skipped or failed.\n'
    fi
    echo
    echo "## Skipped or failed"
    echo
    for line in "${SKIPPED[@]+"${SKIPPED[@]}"}" "${FAILED[@]+"${FAILED[@]}"}"; do echo "- $line"; done
    ((${#SKIPPED[@]} + ${#FAILED[@]})) || echo "Nothing: every part ran."
    echo
    echo "Total wall time of the check: $((SECONDS - START)) s."
  } > "$REPORT"
  echo "wrote $REPORT"
}

main() {
  parse_args "$@"
  find_binary
  mkdir -p "$OUT"
  setup_vulkan
  part_info
  part_regression
  part_bench
  part_report
  say "done in $((SECONDS - START)) s: ${#FAILED[@]} failed, ${#SKIPPED[@]} skipped"
  ((${#FAILED[@]} == 0)) || exit 1
}

main "$@"
