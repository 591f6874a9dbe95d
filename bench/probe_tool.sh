#!/usr/bin/env bash
# Settle time of the probe tool with its defaults on three namespace-lab
# paths (client -> r1 -> r2 -> server): clean 1500 links, the black hole
# (1500, 1370, 1350; routers drop ICMP) and the mismatched link (r2 sends
# 1500 into the 1350 link, which carries 1354): runs a fresh
# `mix plpmtud.probe` (a new VM each time) RUNS times for IPv4 and IPv6
# against a responder in the server's namespace and reports each run's
# final size and time, and their medians. Needs root, iproute2 and nftables.
#
#   bench/probe_tool.sh [RUNS] [OUT]     (default 5, bench/results/probe_tool.md)
#
# The responder (dual stack) runs in its own VM (`mix plpmtud.responder`); the lab's
# prefix is plpbench-PID and is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-5}
out=${2:-bench/results/probe_tool.md}
prefix=plpbench-$$
log=$(mktemp)
responders=()

cleanup() {
  for pid in "${responders[@]}"; do kill "$pid" 2>/dev/null || true; done
  scripts/lab down --prefix "$prefix" >/dev/null 2>&1 || true
  rm -f "$log"
}
trap cleanup EXIT

MIX_ENV=${MIX_ENV:-dev} mix compile >/dev/null

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

rows=()
for path in clean blackhole mismatch; do
case $path in
  clean) lab_args=(--variant icmp --mtus 1500,1500,1500) true_mtu=1500 ;;
  blackhole) lab_args=(--variant blackhole) true_mtu=1350 ;;
  mismatch) lab_args=(--variant mismatch) true_mtu=1354 ;;
esac
scripts/lab up --prefix "$prefix" "${lab_args[@]}" >/dev/null
mix plpmtud.responder --netns "$prefix-s" >/dev/null 2>&1 &
responders+=($!)

# Waits (bounded) until a probe gets an answer: the responders are up.
for _ in $(seq 1 60); do
  if mix plpmtud.probe 10.71.3.2 --netns "$prefix-c" --timeout 2000 >/dev/null 2>&1; then break; fi
  sleep 0.5
done

for family in ipv4 ipv6; do
  if [ "$family" = ipv4 ]; then target=10.71.3.2; flags=(); else target=fd71:3::2; flags=(--ipv6); fi
  times=() sizes=()
  for run in $(seq 1 "$runs"); do
    mix plpmtud.probe "$target" "${flags[@]}" --netns "$prefix-c" >"$log" 2>&1
    # "path MTU 1339 (UDP payload 1311) in 10 probes, 127 ms"
    line=$(grep -E '^path MTU' "$log")
    size=$(sed -E 's/^path MTU (at least )?([0-9]+).*/\2/' <<<"$line")
    ms=$(sed -E 's/.* ([0-9]+) ms.*/\1/' <<<"$line")
    probes=$(sed -E 's/.* in ([0-9]+) probes?,.*/\1/' <<<"$line")
    times+=("$ms") sizes+=("$size")
    rows+=("| $path ($true_mtu) | $family | $run | $size | $probes | $ms ms |")
  done
  med_ms=$(printf '%s\n' "${times[@]}" | median)
  med_size=$(printf '%s\n' "${sizes[@]}" | median)
  rows+=("| **$path ($true_mtu)** | **$family median** | | **$med_size** | | **$med_ms ms** |")
done
for pid in "${responders[@]}"; do kill "$pid" 2>/dev/null || true; done
responders=()
scripts/lab down --prefix "$prefix" >/dev/null 2>&1 || true
done

{
  echo "# The probe tool's settle time on the lab's paths, with its defaults"
  echo
  echo "- command: \`bench/probe_tool.sh $runs\` (each run: \`mix plpmtud.probe 10.71.3.2 --netns PREFIX-c\`, \`--ipv6\` for fd71:3::2; a fresh VM each)"
  echo "- paths: clean (\`scripts/lab up --variant icmp --mtus 1500,1500,1500\`), black hole (client -> r1 (1500) -> r2 (1370) -> server (1350), routers drop ICMP: \`--variant blackhole\`), mismatched link (\`--variant mismatch\`: the 1350 link carries 1354); true path MTU in parentheses"
  echo "- machine: $(hostname), $(nproc) CPUs, OTP $(erl -noshell -eval 'io:put_chars(erlang:system_info(otp_release)), halt().')"
  echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- lib || echo ' (with uncommitted changes)')"
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "| path | family | run | final size | probes | time |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} >"$out"
cat "$out"
