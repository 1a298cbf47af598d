#!/usr/bin/env bash
# The C client (clients/c): build with cmake + ninja, run CTest with JUnit
# output into build/test-results/c-client.xml, then build again under
# AddressSanitizer + UndefinedBehaviorSanitizer and run the same tests
# (JUnit into build/test-results/c-client-sanitize.xml).
#   SONOEDGE_FUZZ_ITERATIONS=1000000 scripts/c-client-test.sh   longer fuzz
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
results="$root/build/test-results"
mkdir -p "$results"
jobs=${SONOEDGE_JOBS:-2}
rc=0
for mode in plain sanitize; do
  suffix=""; san=OFF
  [[ $mode == sanitize ]] && { suffix=-sanitize; san=ON; }
  dir="$root/build/c-client$suffix"
  cmake -S clients/c -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSONOEDGE_SANITIZE=$san >/dev/null
  cmake --build "$dir" -j "$jobs"
  xml="$results/c-client$suffix.xml"
  ( cd "$dir" && ctest --output-on-failure -j "$jobs" --output-junit "$xml" ) || rc=1
done
exit $rc
