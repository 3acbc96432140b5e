#!/usr/bin/env bash
# A short run of every fuzz target (go test -fuzz), after the committed corpora
# have already run as plain tests. New failing inputs land in the package's
# testdata/fuzz/<Target>/: commit them with the fix. FUZZTIME=1m for a longer run.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-4s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
n=0
while IFS=: read -r file name; do
  pkg=./$(dirname "$file")
  echo "fuzz $pkg $name ($fuzztime)"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" > "$log" 2>&1 || { cat "$log"; exit 1; }
  n=$((n + 1))
done < <(git ls-files '*_test.go' | xargs grep -Ho '^func Fuzz[A-Za-z0-9_]*' | sed 's/:func /:/' | sort)
if [ "$n" -eq 0 ]; then echo "no fuzz targets found: the search is wrong" >&2; exit 1; fi
echo "fuzzed $n targets"
