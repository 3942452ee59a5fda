#!/usr/bin/env bash
# Runs every fuzzer in BUILD/bin for SECONDS each, from a seed corpus made of the shared test
# vectors. Exit status: non-zero if a fuzzer found a crash (its input is saved in BUILD/fuzz/).
#   tests/fuzz/run.sh BUILD SECONDS
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$1
seconds=$2
work="$build/fuzz"
mkdir -p "$work"

# partial_json_fuzz: the first byte of an input picks the split offset, the rest is the document.
corpus="$work/partial_json_corpus"
mkdir -p "$corpus"
node -e '
  const fs = require("fs");
  const vectors = JSON.parse(fs.readFileSync("tests/vectors/partial_json.json", "utf8"));
  let i = 0;
  for (const section of ["valid", "invalid", "partial"]) {
    for (const v of vectors[section]) {
      const text = Buffer.from(v.text, "utf8");
      fs.writeFileSync(`${process.argv[1]}/seed-${String(i).padStart(3, "0")}`,
        Buffer.concat([Buffer.from([(i * 37) % 256]), text]));
      i++;
    }
  }' "$corpus"

echo "fuzz: partial_json_fuzz for ${seconds} s"
"$build/bin/partial_json_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$work/" -print_final_stats=1 "$corpus" 2>&1 | tail -n 8
