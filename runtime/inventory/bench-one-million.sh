#!/usr/bin/env bash
# `airlock agents list` and `airlock policy suggest --from-audit` over a
# synthetic, verifiable audit log of RECORDS records (default 1,000,000):
# wall time and peak memory of each command, as docs/performance.md reports
# them. Needs GNU time (/usr/bin/time). Uses the release binary.
#
#   bash runtime/inventory/bench-one-million.sh [RECORDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
records=${1:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --bin airlock
cargo run --release --example synthetic_log -p airlock-inventory -- "$work/audit" "$records"
ls -l "$work/audit/audit.jsonl" | awk '{printf "log: %.0f MiB\n", $5 / 1048576}'

# The policies the synthetic calls were decided by (team-0 ... team-9),
# and one forbid.
for team in 0 1 2 3 4 5 6 7 8 9; do
  printf '@id("team-%s")\npermit (principal, action, resource) when { principal has repository };\n\n' "$team"
done > "$work/policy.cedar"
printf '@id("no-git")\nforbid (principal, action == Action::"fs.write", resource in Path::"/workspace/.git");\n' \
  >> "$work/policy.cedar"
cat > "$work/airlock.toml" <<TOML
audience = "https://airlock.bench"
policies = ["policy.cedar"]

[[issuer]]
iss = "https://token.actions.githubusercontent.com"
jwks = "unused.jwks.json"

[[issuer]]
iss = "https://id.factory.example"
jwks = "unused.jwks.json"
TOML

measure() {
  local what=$1
  shift
  /usr/bin/time -f "$what: %e s, peak %M KiB" "$@" > "$work/out" 2> "$work/err" || {
    cat "$work/err" >&2
    exit 1
  }
  tail -n 1 "$work/err"
}
measure "agents list" target/release/airlock agents list --log "$work/audit" --config "$work/airlock.toml"
measure "agents list --json" target/release/airlock agents list --json --log "$work/audit" --config "$work/airlock.toml"
measure "policy suggest" target/release/airlock policy suggest --from-audit --log "$work/audit" \
  --config "$work/airlock.toml" --out "$work/suggested.cedar"
echo "suggested: $(grep -c '^permit' "$work/suggested.cedar") permits"
