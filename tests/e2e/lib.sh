# SPDX-License-Identifier: AGPL-3.0-or-later
# Sourced by the e2e shell tests: a work directory removed on exit, fail, and
# starting the real enclaved on an ephemeral port.
# usage: . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; e2e_init NAME

# e2e_init NAME: makes $work, clears $server and runs e2e_cleanup on exit (a
# script that needs more at exit traps its own function that calls it).
e2e_init() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  server=
  trap e2e_cleanup EXIT
}
e2e_cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf -- "$work"
}
# A script may define its own fail after sourcing (to show more on failure).
fail() { echo "FAIL: $*" >&2; exit 1; }
# start_server ENCLAVED ARGS...: runs ENCLAVED ARGS... with stderr in
# $work/server.log; sets $server and $port (from its "listening on" line).
# Fails, with the log, when it exits or is not ready within 10 s.
start_server() {
  : >"$work/server.log"  # exists before the first read, whoever runs first
  "$@" 2>"$work/server.log" &
  server=$!
  port=
  for _ in $(seq 200); do
    port=$(sed -n 's/^enclaved: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/server.log")
    [ -n "$port" ] && return 0
    kill -0 "$server" 2>/dev/null || fail "$* exited: $(cat "$work/server.log")"
    sleep 0.05
  done
  fail "$* not ready: $(cat "$work/server.log")"
}
# stop_server: SIGTERM; enclaved must exit 0.
stop_server() { kill "$server"; wait "$server" || fail "enclaved exit $?"; server=; }
