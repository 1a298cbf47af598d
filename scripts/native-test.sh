#!/usr/bin/env bash
# Builds and runs the native core's GoogleTest suite.
#
#   scripts/native-test.sh x86        native build, every SIMD level the CPU has
#   scripts/native-test.sh sanitize   ASan + UBSan build, plus ~20 s of the fuzz driver
#   scripts/native-test.sh aarch64    cross-built with g++-aarch64-linux-gnu, run under qemu
#
# Builds under build/native-MODE (cmake + ninja), writes JUnit XML to
# build/test-results/native-MODE.xml (and native-sanitize-fuzz.xml), prints
# gtest's normal output and exits non-zero on any failure; exit code 3 when a
# tool is missing (the message names the package). Environment:
# SONOEDGE_JOBS (parallel build jobs, default 2), SONOEDGE_FUZZ_SECONDS (20).
set -uo pipefail

MODE="${1:-}"
case "$MODE" in
  x86 | sanitize | aarch64) ;;
  *)
    echo "usage: scripts/native-test.sh x86|sanitize|aarch64" >&2
    exit 2
    ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build/native-$MODE"
RESULTS="$ROOT/build/test-results"
JOBS="${SONOEDGE_JOBS:-2}"
FUZZ_SECONDS="${SONOEDGE_FUZZ_SECONDS:-20}"

missing() {
  echo "native-test: $1 not found; install the Debian package $2" >&2
  exit 3
}
command -v cmake > /dev/null || missing cmake cmake
command -v ninja > /dev/null || missing ninja ninja-build
[ -f /usr/src/googletest/CMakeLists.txt ] || missing "GoogleTest sources (/usr/src/googletest)" googletest

CMAKE_ARGS=(-S "$ROOT/native" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release)
RUNNER=()
case "$MODE" in
  x86)
    command -v g++ > /dev/null || missing g++ g++
    ;;
  sanitize)
    command -v g++ > /dev/null || missing g++ g++
    CMAKE_ARGS+=(-DSONOEDGE_SANITIZE=ON)
    ;;
  aarch64)
    command -v aarch64-linux-gnu-g++ > /dev/null || missing aarch64-linux-gnu-g++ g++-aarch64-linux-gnu
    [ -f /usr/aarch64-linux-gnu/include/stdio.h ] || missing "the arm64 C library headers" libc6-dev-arm64-cross
    QEMU="$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)"
    [ -n "$QEMU" ] || missing qemu-aarch64 "qemu-user-static (or qemu-user)"
    CMAKE_ARGS+=("-DCMAKE_TOOLCHAIN_FILE=$ROOT/native/cmake/aarch64-linux-gnu.cmake")
    RUNNER=("$QEMU" -L /usr/aarch64-linux-gnu)
    ;;
esac

mkdir -p "$RESULTS"
START=$(date +%s)
echo "== native-test $MODE: configure + build ($BUILD, -j$JOBS)"
if ! cmake "${CMAKE_ARGS[@]}" > "$BUILD.configure.log" 2>&1; then
  cat "$BUILD.configure.log" >&2
  echo "native-test $MODE: configure failed" >&2
  exit 1
fi
if ! cmake --build "$BUILD" -j "$JOBS"; then
  echo "native-test $MODE: build failed" >&2
  exit 1
fi
echo "== native-test $MODE: built in $(($(date +%s) - START)) s"

STATUS=0
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
"${RUNNER[@]}" "$BUILD/sonoedge_core_tests" --gtest_output="xml:$RESULTS/native-$MODE.xml" || STATUS=1

if [ "$MODE" = sanitize ]; then
  FUZZ_XML="$RESULTS/native-sanitize-fuzz.xml"
  rm -f "$FUZZ_XML"
  echo "== native-test sanitize: fuzz_plan for ${FUZZ_SECONDS} s under ASan + UBSan"
  if ! "$BUILD/fuzz_plan" --runs=100000000 --seconds="$FUZZ_SECONDS" --seed="$(date +%s)" \
    --junit="$FUZZ_XML"; then
    STATUS=1
    cat > "$FUZZ_XML" << XML
<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="1" failures="1" errors="0">
  <testsuite name="FuzzPlan" tests="1" failures="1" errors="0">
    <testcase name="RandomInputs" classname="FuzzPlan"><failure message="fuzz_plan failed under ASan/UBSan (see the log)"/></testcase>
  </testsuite>
</testsuites>
XML
    echo "native-test sanitize: fuzz_plan FAILED" >&2
  fi
fi

echo "== native-test $MODE: $([ $STATUS = 0 ] && echo passed || echo FAILED) in $(($(date +%s) - START)) s"
exit $STATUS
