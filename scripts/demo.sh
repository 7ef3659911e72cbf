#!/usr/bin/env bash
# The main job, from a shell: the `keylife` CLI runs a key's life on the
# default SQLite store. It replays the session in README.md ("The command
# line"), printing each command and what it prints, in a fresh temporary
# directory that serves as XDG_DATA_HOME, so the store lands at the default
# location ($XDG_DATA_HOME/keylife/store.db) without touching your home.
#   bash scripts/demo.sh
#   KEEP=1 bash scripts/demo.sh     # keep the directory and print its path
#   KEYLIFE_DEMO_PROFILE=dev bash scripts/demo.sh   # the debug build (the test command's)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
profile="${KEYLIFE_DEMO_PROFILE:-release}"
cargo build --quiet --profile "$profile" --manifest-path "$root/Cargo.toml" -p keylife-cli
bindir="$root/target/$([ "$profile" = dev ] && echo debug || echo "$profile")"
dir=$(mktemp -d)
if [ -z "${KEEP:-}" ]; then trap 'rm -rf "$dir"' EXIT; fi
cd "$dir"
export PATH="$bindir:$PATH" XDG_DATA_HOME="$dir/data"
unset KEYLIFE_STORE KEYLIFE_PASSPHRASE KEYLIFE_PRINCIPAL KEYLIFE_FORMAT KEYLIFE_KEK_FILE
# The commands of the README's session, in order (lines starting "$ ").
mapfile -t cmds < <(awk '/<!-- cli-session -->/ {on = 1; next}
  on && /^```$/ && seen {exit} on && /^```console$/ {seen = 1; next}
  on && seen && /^\$ / {print substr($0, 3)}' "$root/README.md")
[ ${#cmds[@]} -gt 0 ] || { echo "no session found in README.md" >&2; exit 1; }
# One shell for the whole session (exports carry over); each command is
# printed before it runs, its stderr merged into its output.
script="$dir/session.sh"
for c in "${cmds[@]}"; do
  printf 'printf "\\n\\033[1m$ %%s\\033[0m\\n" %q\n{ %s\n} 2>&1\n' "$c" "$c"
done > "$script"
bash "$script"
[ -z "${KEEP:-}" ] || printf '\nkept: %s\n' "$dir"
