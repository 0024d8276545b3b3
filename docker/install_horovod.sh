#!/usr/bin/env bash
# Build and install Horovod (PyTorch + Gloo, and NCCL when HOROVOD_GPU_OPERATIONS=NCCL)
# for the Python interpreter given as the first argument (default: python3).
#
# Horovod 0.28.1, its last release, asks for C++14, which PyTorch >= 2.1 headers refuse, so
# the sdist is patched to C++17 before it is built. The built wheel is kept in a cache keyed
# by Horovod, torch and Python versions and GPU operations, so a second install takes seconds.
# The Docker image and CI both run this script.
#
# Environment: HOROVOD_VERSION (0.28.1), HOROVOD_WHEEL_CACHE (~/.cache/packnet_sfm/wheels),
# HOROVOD_GPU_OPERATIONS (unset for CPU/Gloo only; NCCL on a CUDA image).
set -euo pipefail

PYTHON="$(command -v "${1:-python3}")" || { echo "install_horovod: no Python '${1:-python3}'" >&2; exit 1; }
PYTHON="$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")"  # absolute, venv kept
HOROVOD_VERSION="${HOROVOD_VERSION:-0.28.1}"
WHEEL_CACHE="${HOROVOD_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/packnet_sfm/wheels}"
GPU_OPS="${HOROVOD_GPU_OPERATIONS:-}"
CMAKE_MIN="3.13"

log() { echo "[install_horovod] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# True when horovod.torch imports with the wanted version, Gloo, and NCCL if asked for.
horovod_ready() {
    "$PYTHON" - "$HOROVOD_VERSION" "$GPU_OPS" <<'EOF' >/dev/null 2>&1
import sys
import horovod
import horovod.torch as hvd
version, gpu_ops = sys.argv[1], sys.argv[2]
ok = horovod.__version__ == version and hvd.gloo_built()
ok = ok and (gpu_ops != "NCCL" or hvd.nccl_built())
sys.exit(0 if ok else 1)
EOF
}

# Replace 'CMAKE_CXX_STANDARD 14' by 17 in one CMakeLists.txt, failing if it is not there.
patch_cxx_standard() {
    local file="$1"
    grep -q 'CMAKE_CXX_STANDARD 14)' "$file" \
        || die "'CMAKE_CXX_STANDARD 14' not found in $file: the Horovod sdist changed, update this script"
    sed -i 's/CMAKE_CXX_STANDARD 14)/CMAKE_CXX_STANDARD 17)/' "$file"
}

# Put a cmake >= CMAKE_MIN on PATH, from PyPI into the target environment when missing.
ensure_cmake() {
    local have
    have="$(cmake --version 2>/dev/null | sed -n 's/^cmake version \([0-9.]*\).*/\1/p')"
    if [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$CMAKE_MIN" "$have" | sort -V | head -n1)" = "$CMAKE_MIN" ]; then
        return
    fi
    log "cmake >= $CMAKE_MIN not found (have '${have:-none}'): installing it from PyPI"
    "$PYTHON" -m pip install --quiet "cmake>=3.18,<4"
    PATH="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
    export PATH
}

# Build the patched sdist into a wheel in directory $1; all output goes to stderr.
build_wheel() {
    local out="$1"
    "$PYTHON" -m pip download --quiet --no-deps --no-binary :all: \
        "horovod==$HOROVOD_VERSION" -d "$WORK_DIR" >&2
    tar -xzf "$WORK_DIR/horovod-$HOROVOD_VERSION.tar.gz" -C "$WORK_DIR"
    local src="$WORK_DIR/horovod-$HOROVOD_VERSION"
    patch_cxx_standard "$src/CMakeLists.txt"
    patch_cxx_standard "$src/horovod/torch/CMakeLists.txt"
    ensure_cmake
    # Gloo, never MPI (even where an MPI is installed): horovodrun is the one launcher.
    local build_env=(HOROVOD_WITH_PYTORCH=1 HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_MXNET=1
                     HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 "MAKEFLAGS=${MAKEFLAGS:--j$(nproc)}")
    if [ -n "$GPU_OPS" ]; then
        build_env+=("HOROVOD_GPU_OPERATIONS=$GPU_OPS")
    fi
    log "building Horovod $HOROVOD_VERSION${GPU_OPS:+ with $GPU_OPS} (several minutes)"
    (cd "$src" && env "${build_env[@]}" \
        "$PYTHON" -m pip wheel --no-deps --no-build-isolation -w "$out" .) >&2
}

# Set WHEEL to the cached wheel for this Horovod/torch/Python/GPU-ops combination, building
# it first when the cache has none.
find_or_build_wheel() {
    local key cache_dir
    key="$("$PYTHON" -c 'import sys, torch; print(f"torch{torch.__version__}-py{sys.version_info[0]}.{sys.version_info[1]}")')"
    cache_dir="$WHEEL_CACHE/horovod-$HOROVOD_VERSION-$key-${GPU_OPS:-cpu}"
    if ! compgen -G "$cache_dir/horovod-*.whl" >/dev/null; then
        build_wheel "$WORK_DIR/dist"
        mkdir -p "$cache_dir"
        mv "$WORK_DIR"/dist/horovod-*.whl "$cache_dir/"
    else
        log "using the cached wheel in $cache_dir"
    fi
    WHEEL="$(compgen -G "$cache_dir/horovod-*.whl" | head -n1)"
}

main() {
    "$PYTHON" -c 'import torch' 2>/dev/null || die "$PYTHON cannot import torch: install torch first"
    if horovod_ready; then
        log "horovod $HOROVOD_VERSION already installed for $PYTHON"
        return
    fi
    WORK_DIR="$(mktemp -d)"
    trap 'rm -rf "$WORK_DIR"' EXIT
    # Horovod's runtime and setup requirements: the build is not isolated, so they come first.
    "$PYTHON" -m pip install --quiet cloudpickle psutil pyyaml packaging "cffi>=1.4.0"
    find_or_build_wheel
    log "installing $WHEEL"
    "$PYTHON" -m pip install --quiet --force-reinstall --no-deps "$WHEEL"
    horovod_ready || die "horovod.torch $HOROVOD_VERSION does not import after installing $WHEEL"
    log "horovod $HOROVOD_VERSION installed for $PYTHON"
}

# Sourcing the script (tests) defines the functions without installing anything.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main
fi
