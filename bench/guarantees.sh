#!/usr/bin/env bash
# Runs the tests behind the README's "Guarantees and limits" figures and
# records what they print (leaks, NIF call times under load, the flapping
# path, forged Packet-Too-Big counters, memory per prober, probes of a
# connection to a cached destination) with the command,
# machine and date. The :netns tests need root and iproute2.
#
#   bench/guarantees.sh [FLAP_SECONDS]     (default 60)
#
# Writes bench/results/guarantees.md; exits with the tests' status.
set -euo pipefail
cd "$(dirname "$0")/.."

flap=${1:-60}
tests=(test/plpmtud/load_test.exs test/plpmtud/faults_test.exs
  test/plpmtud/spoofed_ptb_test.exs test/plpmtud/memory_test.exs
  test/plpmtud/cache_lab_test.exs)
out=bench/results/guarantees.md
log=$(mktemp)
trap 'rm -f "$log"' EXIT

status=0
PLPMTUD_FLAP_SECONDS=$flap MIX_ENV=test mix test --trace "${tests[@]}" >"$log" 2>&1 || status=$?

{
  echo "# The figures printed by the guarantee tests"
  echo
  echo "- command: \`bench/guarantees.sh $flap\` (\`PLPMTUD_FLAP_SECONDS=$flap MIX_ENV=test mix test --trace ${tests[*]}\`)"
  echo "- machine: $(hostname), $(nproc) CPUs, OTP $(erl -noshell -eval 'io:put_chars(erlang:system_info(otp_release)), halt().')"
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- exit status of the tests: $status"
  echo
  echo "The lines the tests printed, each followed by its test, with the time it took:"
  echo
  echo '```'
  tr '\r' '\n' <"$log" | sed -E 's/\x1b\[[0-9;]*[A-Za-z]//g' |
    grep -E '^\s*\* test .*\([0-9.]+ms\)|^  (leak test:|under load:|flap for |ipv[46] forged PTBs:|memory:|probes:)|^Finished in|[0-9]+ tests?, [0-9]+ failures?' |
    sed -E 's/^\s*\* test /test /'
  echo '```'
} >"$out"

cat "$out"
exit "$status"
