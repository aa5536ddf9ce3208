#!/usr/bin/env bash
# The GPU check of issue 14, unattended: bash benchmarks/gpu_check.sh
#
# On a machine with an NVIDIA GPU: installs what is missing (Python packages from the
# package index, or offline from wheels in ./.whl; the EGL/GL libraries with apt-get, or
# offline from .deb files in ./.gl), then runs benchmarks/gpu_check.py, which prints one
# summary table (matmul peaks, paper-150 training images/s at fp32 and bf16-mixed with the
# DC-IGN / VAE step ratio and TFLOP/s, channels_last and torch.compile gains, render
# throughput at 150 px on the GPU through EGL, a 1-GPU DDP run) within 5 minutes.
# Without a GPU it says so and runs the same Python code path as a CPU dry run, exit 0.
#
# Environment: PYTHON (default python3), GPU_CHECK_BUDGET_S (default 240: the Python part
# skips what is left after that; a hard limit of budget + 50 s stops it regardless).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
BUDGET=${GPU_CHECK_BUDGET_S:-240}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore

say() { echo "gpu_check: $*"; }

gpu=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then gpu=1; fi

# --- Python packages -------------------------------------------------------------------
need=()
for mod in torch lightning moderngl glcontext safetensors typer tensorboard threadpoolctl scipy sklearn matplotlib PIL; do
    "$PY" -c "import $mod" >/dev/null 2>&1 || need+=("$mod")
done
if [ ${#need[@]} -gt 0 ]; then
    say "installing missing Python modules: ${need[*]}"
    declare -A pkg=([sklearn]=scikit-learn [PIL]=pillow)
    names=(); for m in "${need[@]}"; do names+=("${pkg[$m]:-$m}"); done
    if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then  # offline: wheels carried next to the code
        "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/gpu_check_site .whl/*.whl \
            && export PYTHONPATH="$PYTHONPATH:/tmp/gpu_check_site"
    else
        "$PY" -m pip install -q "${names[@]}" || say "pip could not install ${names[*]} (offline? put wheels in ./.whl)"
    fi
fi

# --- EGL / GL libraries (moderngl's headless context) ----------------------------------
if ! ldconfig -p 2>/dev/null | grep -q 'libEGL.so.1'; then
    if ls .gl/*.deb >/dev/null 2>&1; then
        say "unpacking EGL/GL libraries from .gl/"
        for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
    elif command -v apt-get >/dev/null 2>&1; then
        say "installing EGL/GL libraries with apt-get"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libegl1 libgl1 libgles2 libopengl0 \
            libgl1-mesa-dri) >/dev/null 2>&1 || say "apt-get could not install the EGL libraries"
    fi
fi
if [ "$gpu" = 1 ]; then  # the NVIDIA driver's EGL vendor file, where the driver is mounted outside /usr
    for d in /usr/local/nvidia/share/glvnd/egl_vendor.d /usr/share/glvnd/egl_vendor.d /etc/glvnd/egl_vendor.d; do
        if [ -f "$d/10_nvidia.json" ]; then
            mesa=$(ls /usr/share/glvnd/egl_vendor.d/50_mesa.json 2>/dev/null || true)
            export __EGL_VENDOR_LIBRARY_FILENAMES="$d/10_nvidia.json${mesa:+:$mesa}"
            break
        fi
    done
fi

# --- run -----------------------------------------------------------------------------
if [ "$gpu" = 1 ] && "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/gpu_check: GPU /'
    timeout --kill-after=10 $((BUDGET + 50)) "$PY" benchmarks/gpu_check.py --budget-s "$BUDGET"
    rc=$?
    [ $rc -eq 124 ] && say "stopped at the hard time limit ($((BUDGET + 50)) s)"
    exit $rc
fi
say "no NVIDIA GPU on this machine (nvidia-smi or torch.cuda finds none): nothing GPU-specific can be measured here."
say "CPU dry run of the same Python code path (small sizes; its numbers are not GPU results):"
timeout --kill-after=10 $((BUDGET + 50)) "$PY" benchmarks/gpu_check.py --dry-run --budget-s "$BUDGET"
rc=$?
[ $rc -ne 0 ] && say "the dry run failed (exit $rc): the code path is broken"
exit $rc
