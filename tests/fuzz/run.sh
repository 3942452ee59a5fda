#!/usr/bin/env bash
# Runs every libFuzzer target (tests/fuzz/*_fuzz.cc, built in BUILD/bin) for SECONDS each, one
# at a time, from a scratch copy of its committed seeds (tests/fuzz/corpus/<target>/) with its
# dictionary (tests/fuzz/<target>.dict) if it has one. Prints one line per target: executions,
# coverage, corpus size, crash or not. A crashing input is saved as BUILD/fuzz/<target>/crash-*
# (or timeout-*, oom-*, leak-*) next to the run's log.
#
#   tests/fuzz/run.sh [--replay] BUILD SECONDS
#   --replay       first run each committed seed once (-runs=0 over the corpus), so a crash
#                  that was fixed (its input is kept as a crash-* seed) cannot come back
#
# Exit status: non-zero if a seed or a run crashed. BUILD/fuzz/fuzz.xml records the same as a
# JUnit report for `make test`.
set -uo pipefail
cd "$(dirname "$0")/../.."

replay=0
while [[ "${1:-}" == --* ]]; do
  case "$1" in
    --replay) replay=1 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [ $# -ne 2 ]; then
  echo "usage: tests/fuzz/run.sh [--replay] BUILD SECONDS" >&2
  exit 2
fi
build=$1
seconds=$2
# One input running longer than this is a hang; a process using more memory than this a leak.
FUZZ_TIMEOUT_S=${FUZZ_TIMEOUT_S:-10}
FUZZ_RSS_LIMIT_MB=${FUZZ_RSS_LIMIT_MB:-2048}
work="$build/fuzz"
mkdir -p "$work"

cases=0
failures=0
skipped=0
testcases=""
record() {  # record <name> <pass|fail|skip> <message>
  cases=$((cases + 1))
  local body=""
  case "$2" in
    fail) failures=$((failures + 1)); body="<failure message=\"$3\"/>" ;;
    skip) skipped=$((skipped + 1)); body="<skipped message=\"$3\"/>" ;;
  esac
  testcases+="  <testcase classname=\"fuzz\" name=\"$1\">$body</testcase>"$'\n'
}

# The committed seeds of a target, copied into a fresh directory.
# Seeds named slow-* (an input that takes many milliseconds, such as a stream amplified to
# megabytes) are replayed but not fuzzed from: mutating them would take most of a short run.
copy_seeds() {  # copy_seeds <target> <directory> <replay|fuzz>
  rm -rf "$2"
  mkdir -p "$2"
  cp tests/fuzz/corpus/"$1"/* "$2"/ 2>/dev/null
  [ "$3" = fuzz ] && rm -f "$2"/slow-*
  return 0
}

# What a crashed run's log says went wrong, in a few lines: the error, then the first frames in
# Tollgate's own code (the ones above are the sanitizer's and libFuzzer's).
crash_excerpt() {
  {
    grep -E -m 4 'ERROR: |fuzz: property broken|terminate called|what\(\)' "$1"
    grep -E '^ *#[0-9]+ .*/(server|sdk-core|tests/fuzz)/' "$1" | head -n 3 |
      sed -E 's/\(anonymous namespace\)/{anonymous}/g' |
      sed -E 's#^ *(\#[0-9]+) 0x[0-9a-f]+ in ([^ (]+).*[/.]((server|sdk-core|tests/fuzz)/[^ ]+)$#  \1 \2 \3#'
  } | cut -c 1-200 | sed 's/^/    /'
}

# Prints a failed run's verdict: the crash, with its input.
verdict() {  # verdict <target> <case name> <log>
  local artifact
  artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$3" | tail -n 1)
  echo "CRASH: input ${artifact:-not saved}, log $3"
  crash_excerpt "$3"
  record "$2" fail "crash: ${artifact:-see $3}"
}

mapfile -t targets < <(ls tests/fuzz/*_fuzz.cc | xargs -n 1 basename | sed 's/\.cc$//')
for target in "${targets[@]}"; do
  binary="$build/bin/$target"
  dir="$work/$target"
  mkdir -p "$dir"
  if [ ! -x "$binary" ]; then
    printf 'fuzz: %-24s CRASH: not built (%s; add it to tests/fuzz/CMakeLists.txt)\n' "$target" "$binary"
    record "$target" fail "not built"
    continue
  fi
  if [ ! -d "tests/fuzz/corpus/$target" ]; then
    printf 'fuzz: %-24s CRASH: no committed seeds in tests/fuzz/corpus/%s/\n' "$target" "$target"
    record "$target" fail "no seeds"
    continue
  fi
  options=(-timeout="$FUZZ_TIMEOUT_S" -rss_limit_mb="$FUZZ_RSS_LIMIT_MB" -artifact_prefix="$dir/")

  if [ "$replay" -eq 1 ]; then
    copy_seeds "$target" "$dir/replay" replay
    count=$(ls "$dir/replay" | wc -l)
    printf 'fuzz: %-24s replay %d seeds: ' "$target" "$count"
    if "$binary" "${options[@]}" -runs=0 "$dir/replay" >"$dir/replay.log" 2>&1; then
      echo "ok"
      record "$target replay" pass ""
    else
      verdict "$target" "$target replay" "$dir/replay.log"
    fi
  fi

  copy_seeds "$target" "$dir/corpus" fuzz
  seeds=$(ls "$dir/corpus" | wc -l)
  dict=()
  [ -f "tests/fuzz/$target.dict" ] && dict=(-dict="tests/fuzz/$target.dict")
  "$binary" "${options[@]}" "${dict[@]}" -max_total_time="$seconds" -print_final_stats=1 \
    "$dir/corpus" >"$dir/run.log" 2>&1
  status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/run.log" | tail -n 1)
  coverage=$(grep -o 'cov: [0-9]*' "$dir/run.log" | tail -n 1 | cut -d' ' -f2)
  printf 'fuzz: %-24s %3d s: runs %9s, cov %5s, corpus %5d (from %d seeds): ' "$target" \
    "$seconds" "${runs:-?}" "${coverage:-?}" "$(ls "$dir/corpus" | wc -l)" "$seeds"
  if [ "$status" -eq 0 ]; then
    echo "no crash"
    record "$target" pass ""
  else
    verdict "$target" "$target" "$dir/run.log"
  fi
done

{
  echo '<?xml version="1.0" encoding="UTF-8"?>'
  echo "<testsuite name=\"fuzz\" tests=\"$cases\" failures=\"$failures\" skipped=\"$skipped\" disabled=\"0\">"
  printf '%s' "$testcases"
  echo "</testsuite>"
} >"$work/fuzz.xml"
[ "$failures" -eq 0 ]
