#!/usr/bin/env bash
# Build the one-folder desktop app with PyInstaller (build.spec), then smoke-test the frozen binary:
# its --self-test, run offscreen from a cold page cache and again warm, must pass without writing
# into the install folder. Prints the bundle size, build time and start-up times.
#
#   scripts/build_app.sh [cuda|cpu] [--smoke-only]
#
#   cuda (default): trains and predicts on an NVIDIA GPU or the CPU (about 5 GB)
#   cpu:            CPU-lean variant (see docs/packaging.md)
#   --smoke-only:   skip the build, test the bundle already in the build folder
#
# Environment: ROP_BUILD_DIR  where dist/ and work-<variant>/ go (default: <repo>/dist/pyinstaller)
#              PYTHON         the interpreter with the app and PyInstaller (default: <repo>/.venv/bin/python)
# Exit status: 0 when the build and the smoke test pass.
set -euo pipefail

variant="${ROP_BUILD_VARIANT:-cuda}"
smoke_only=0
for arg in "$@"; do
    case "$arg" in
        cpu|cuda) variant="$arg" ;;
        --smoke-only) smoke_only=1 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "build_app.sh: unknown argument '$arg' (expected cpu, cuda or --smoke-only)" >&2; exit 2 ;;
    esac
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$repo/.venv/bin/python}"
build_dir="${ROP_BUILD_DIR:-$repo/dist/pyinstaller}"
name="rop-desktop"; [[ "$variant" == cpu ]] && name="rop-desktop-cpu"
app="$build_dir/dist/$name"
mkdir -p "$build_dir"
now() { date +%s.%N; }
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# ------------------------------------------------------------------ build
build_s="(not built)"
if [[ $smoke_only == 0 ]]; then
    log="$build_dir/build-$variant.log"
    echo "== building the $variant variant into $app (log: $log)"
    t0=$(now)
    if ! ROP_BUILD_VARIANT="$variant" "$python" -m PyInstaller "$repo/build.spec" --noconfirm \
            --distpath "$build_dir/dist" --workpath "$build_dir/work-$variant" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "build_app.sh: the PyInstaller build failed (full log: $log)" >&2
        exit 1
    fi
    build_s="$(seconds "$t0" "$(now)") s"
    grep -E "build.spec \(cpu\)" "$log" || true
    echo "== built in $build_s"
fi
[[ -x "$app/rop-desktop" ]] || { echo "build_app.sh: no frozen app at $app" >&2; exit 1; }

# ------------------------------------------------------------------ smoke test
scratch="$(mktemp -d)"
marker="$scratch/marker"
touch "$marker"
# The install folder is read-only while the app runs: a read-only bind mount in a private mount
# namespace for root (permissions do not bind root), chmod otherwise. The -newer check proves it too.
readonly_how="not enforced"
launcher=()
if [[ $(id -u) == 0 ]] && unshare -m true 2>/dev/null; then
    launcher=(unshare -m sh -c 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
              sh "$app")
    readonly_how="read-only bind mount"
elif [[ $(id -u) != 0 ]]; then
    chmod -R a-w "$app"
    readonly_how="chmod a-w"
fi
cleanup() {
    [[ $readonly_how == "chmod a-w" ]] && chmod -R u+w "$app"
    rm -rf "$scratch"
}
trap cleanup EXIT

# Evict the bundle from the page cache (no root needed) so that the first run is a cold start.
"$python" - "$app" <<'PY'
import os, sys
for folder, _dirs, files in os.walk(sys.argv[1]):
    for name in files:
        path = os.path.join(folder, name)
        if os.path.islink(path):
            continue
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
PY

run_self_test() {  # $1: label; a private home and temp folder; TORCH_HOME left to the app
    local home="$scratch/home-$1"
    mkdir -p "$home" "$scratch/tmp-$1"
    env -u TORCH_HOME -u ROP_DESKTOP_NO_RECENT QT_QPA_PLATFORM=offscreen ROP_DESKTOP_HOME="$home" \
        TMPDIR="$scratch/tmp-$1" ${launcher[@]+"${launcher[@]}"} "$app/rop-desktop" --self-test 2>"$scratch/stderr-$1"
}

echo "== frozen --self-test (cold page cache)"
t0=$(now)
if ! run_self_test cold | tee "$scratch/out-cold"; then
    tail -n 40 "$scratch/stderr-cold" >&2
    echo "build_app.sh: the frozen app's --self-test FAILED" >&2
    exit 1
fi
self_test_s="$(seconds "$t0" "$(now)") s"
grep -q "TORCH_HOME=$scratch/home-cold/cache/torch" "$scratch/out-cold" \
    || { echo "build_app.sh: TORCH_HOME was not set to the per-user cache" >&2; exit 1; }

echo "== frozen --self-test (warm)"
run_self_test warm > "$scratch/out-warm" || { cat "$scratch/out-warm" "$scratch/stderr-warm" >&2; exit 1; }

written="$(find "$app" -newer "$marker" | head -n 5)"
if [[ -n "$written" ]]; then
    echo "build_app.sh: the app wrote into its install folder:" >&2
    echo "$written" >&2
    exit 1
fi

cold="$(sed -n 's/^cold start to main window: \([0-9.]*\) s.*/\1/p' "$scratch/out-cold")"
warm="$(sed -n 's/^cold start to main window: \([0-9.]*\) s.*/\1/p' "$scratch/out-warm")"
echo "== summary ($variant variant)"
echo "bundle:             $app"
echo "size:               $(du -sh "$app" | cut -f1) ($(find "$app" -type f | wc -l) files)"
echo "build time:         $build_s"
echo "self-test (cold):   $self_test_s wall, passed"
echo "start to window:    ${cold} s cold page cache, ${warm} s warm (process start -> main window with its first image)"
echo "install folder:     nothing written ($readonly_how during the runs)"
