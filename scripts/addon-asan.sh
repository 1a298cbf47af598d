#!/usr/bin/env bash
# The addon (engine, preprocessing, shared memory) under AddressSanitizer and
# LeakSanitizer inside a real Node.js process: builds an ASan copy of the addon
# in build/addon-asan (the release addon is untouched), runs
# scripts/addon-asan-driver.mjs and the OpenIGTLink fuzz (its frames through
# the native preprocessing) with libasan preloaded, and fails on any
# memory error, or on a leak whose stack passes through our native code (the
# ONNX Runtime environment, kept for the life of the process on purpose, is the
# one allowed). Writes build/test-results/addon-sanitize.xml.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/build/addon-asan"
results="$root/build/test-results"
mkdir -p "$out/build" "$results"
for p in native scripts node_modules package.json; do ln -sfn "$root/$p" "$out/$p"; done
ln -sfn "$root/build/ort-headers" "$out/build/ort-headers"
sed -e 's/"-O3", "-fvisibility=hidden"/"-O1", "-g", "-fsanitize=address", "-fno-omit-frame-pointer", "-fvisibility=hidden"/' \
    -e '0,/"cflags!": \["-fno-exceptions"\],/s//"cflags!": ["-fno-exceptions"],\n    "ldflags": ["-fsanitize=address"],/' \
    "$root/binding.gyp" > "$out/binding.gyp"
grep -q fsanitize=address "$out/binding.gyp" || { echo "addon-asan: could not add -fsanitize=address to binding.gyp" >&2; exit 1; }
(cd "$out" && npx --no-install node-gyp configure build --jobs=2 >"$out/build.log" 2>&1) \
  || { tail -30 "$out/build.log" >&2; exit 1; }

log="$out/run.log"
set +e
ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0:abort_on_error=0 \
LD_PRELOAD="$(gcc -print-file-name=libasan.so)" \
SONOEDGE_ADDON="$out/build/Release/sonoedge.node" \
  node --expose-gc "$root/scripts/addon-asan-driver.mjs" >"$log" 2>&1
rc=$?
set -e
grep -v '^    #' "$log" | head -40 || true

# The OpenIGTLink fuzz (test/integration/igtl.fuzz.test.ts) with every frame the bridge makes run through this
# ASan addon's preprocessing; leaks are the driver's business (tsx and tap keep theirs until exit).
fuzz_log="$out/igtl-fuzz.log"
set +e
ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 \
LD_PRELOAD="$(gcc -print-file-name=libasan.so)" \
SONOEDGE_ADDON="$out/build/Release/sonoedge.node" SONOEDGE_IGTL_FUZZ_NATIVE=1 \
  node --import tsx "$root/test/integration/igtl.fuzz.test.ts" >"$fuzz_log" 2>&1
fuzz_rc=$?
set -e
fuzz_errors=$(grep -c 'ERROR: AddressSanitizer' "$fuzz_log" || true)
grep -E '^(not )?ok |^# \{' "$fuzz_log" | tail -5 || true

# LSan separates its reports with blank lines; ours pass through native/binding or native/engine.
ours=$(awk 'BEGIN{RS=""} /^(Direct|Indirect) leak/ && /native\/(binding|engine)\// && !/in OpenRuntime /{n++} END{print n+0}' "$log")
errors=$(grep -c 'ERROR: AddressSanitizer' "$log" || true)
driver_ok=$(grep -c '^addon-asan-driver: done' "$log" || true)

fail() { printf '<failure message="%s"/>' "$1"; }
{
  echo '<testsuite name="addon-sanitize">'
  echo "<testcase classname=\"addon-sanitize\" name=\"driver ran to the end\">$([ "$driver_ok" = 1 ] || fail "the driver did not finish (rc $rc)")</testcase>"
  echo "<testcase classname=\"addon-sanitize\" name=\"no AddressSanitizer error\">$([ "$errors" = 0 ] || fail "$errors AddressSanitizer errors")</testcase>"
  echo "<testcase classname=\"addon-sanitize\" name=\"no leak through sonoedge native code\">$([ "$ours" = 0 ] || fail "leaks through native/binding or native/engine")</testcase>"
  echo "<testcase classname=\"addon-sanitize\" name=\"OpenIGTLink fuzz through the native preprocessing\">$([ "$fuzz_rc" = 0 ] && [ "$fuzz_errors" = 0 ] || fail "rc $fuzz_rc, $fuzz_errors AddressSanitizer errors ($fuzz_log)")</testcase>"
  echo '</testsuite>'
} >"$results/addon-sanitize.xml"
if [ "$driver_ok" != 1 ] || [ "$errors" != 0 ] || [ "$ours" != 0 ] || [ "$fuzz_rc" != 0 ] || [ "$fuzz_errors" != 0 ]; then
  echo "addon-asan: failed (driver ok: $driver_ok, ASan errors: $errors, our leak lines: $ours, OpenIGTLink fuzz rc $fuzz_rc with $fuzz_errors ASan errors); logs: $log $fuzz_log" >&2
  exit 1
fi
echo "addon-asan: no memory errors, no leaks through sonoedge's native code, the OpenIGTLink fuzz clean"
