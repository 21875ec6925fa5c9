#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# The command lines of every binary (issue 12 item 2): getopt_long's
# "--opt=value" and "--opt value", "--", --help and --version exit 0, usage
# errors exit 2, and each bug the issue lists stays fixed.
# usage: test_cli.sh BUILDDIR
set -euo pipefail

build=$(cd "$1" && pwd)
enclaved=$build/server/enclaved keygen=$build/tools/enclaved-keygen ctl=$build/tools/enclavectl
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init test_cli
# expect CODE CMD...: runs CMD with stdout/stderr in $work/out, $work/err.
expect() {
  local want=$1 rc=0; shift
  "$@" >"$work/out" 2>"$work/err" || rc=$?
  [ "$rc" = "$want" ] || fail "$* exited $rc, want $want; stderr: $(cat "$work/err")"
}

# {=== enclaved
# --listen=ADDR was read as a setting named "listen=..." that swallowed the next flag.
start_server "$enclaved" --listen=127.0.0.1:0 --ephemeral-keys
stop_server
# localhost, as enclavectl accepts it; the '-' spelling of a setting, as "--opt value".
start_server "$enclaved" --listen localhost:0 --ephemeral-keys --max-frame 2M --io=poll
expect 0 "$ctl" --port="$port" --json info
grep -q '"max_frame":2097152' "$work/out" || fail "--max-frame 2M not applied: $(cat "$work/out")"
stop_server
expect 0 "$enclaved" --help
grep -q "^usage: enclaved" "$work/out" || fail "enclaved --help: $(cat "$work/out")"
grep -q -- "--listen" "$work/out" || fail "enclaved --help lists no settings"
expect 0 "$enclaved" --version
grep -q "^enclaved [0-9]" "$work/out" || fail "enclaved --version: $(cat "$work/out")"
expect 2 "$enclaved" --ephemeral-keys --bogus
grep -q "unknown or ambiguous option '--bogus'" "$work/err" || fail "enclaved --bogus: $(cat "$work/err")"
expect 2 "$enclaved" --ephemeral-keys --listen
grep -q "needs a value" "$work/err" || fail "enclaved --listen: $(cat "$work/err")"
expect 2 "$enclaved" --ephemeral-keys=1
expect 2 "$enclaved" --ephemeral-keys stray
expect 2 "$enclaved" --ephemeral-keys --listen=nowhere:1
# }===

# {=== enclaved-keygen and enclavectl keygen
mkdir "$work/cwd"
(cd "$work/cwd" && expect 0 "$keygen" --help)
grep -q "^usage: enclaved-keygen" "$work/out" || fail "keygen --help: $(cat "$work/out")"
[ -z "$(ls -A "$work/cwd")" ] || fail "keygen --help created $(ls -A "$work/cwd")"
expect 0 "$keygen" --version
# "--" makes a directory named --help possible, on purpose.
(cd "$work/cwd" && expect 0 "$keygen" -- --help)
[ -f "$work/cwd/--help/noise_static.key" ] || fail "keygen -- --help wrote nothing"
grep -q "fingerprint [0-9a-f]\{4\}-" "$work/err" || fail "keygen prints no fingerprint: $(cat "$work/err")"
# A missing parent: the same exit code and a reason from both tools.
expect 6 "$keygen" "$work/missing/keys"
grep -q "No such file or directory" "$work/err" || fail "keygen reason: $(cat "$work/err")"
expect 6 "$ctl" keygen "$work/missing/keys"
grep -q "No such file or directory" "$work/err" || fail "enclavectl keygen reason: $(cat "$work/err")"
expect 2 "$keygen"
expect 2 "$keygen" --bogus dir
# }===

# {=== enclavectl
expect 0 "$ctl" --version
grep -q "^enclavectl [0-9]" "$work/out" || fail "enclavectl --version"
expect 0 "$ctl" help
grep -q "exit codes" "$work/out" || fail "enclavectl help"
expect 0 "$ctl" help process create
grep -q "usage: enclavectl \[global options\] process create FILE" "$work/out" || fail "help process create"
grep -q -- "--memory=BYTES" "$work/out" || fail "help process create lists no options"
expect 0 "$ctl" process --help
grep -q "process destroy" "$work/out" || fail "process --help: $(cat "$work/out")"
expect 0 "$ctl" channel --help
grep -q "channel open raw|nk" "$work/out" || fail "channel --help: $(cat "$work/out")"
expect 2 "$ctl" process
grep -q "process list" "$work/err" || fail "bare 'process' shows no commands"
expect 2 "$ctl" process bogus
# A bad --host is a usage error (2), not a connection failure (3).
expect 2 "$ctl" --host=not-an-address ping
expect 2 "$ctl" ping --host not-an-address
expect 2 "$ctl" --json=yes ping
expect 2 "$ctl" --port
start_server "$enclaved" --listen=127.0.0.1:0 --ephemeral-keys
printf 'function HandleChannelMessage(c, m) return {{c, m}} end\n' >"$work/-echo.lua"
# --memory takes the server's k/M/G; "--" lets FILE start with '-'.
expect 0 "$ctl" --port="$port" --json process create --memory 8M --name=echo -- "$work/-echo.lua"
grep -q '"name":"echo"' "$work/out" || fail "process create: $(cat "$work/out")"
expect 0 "$ctl" --port "$port" process create "--memory=64k" "$work/-echo.lua"
expect 2 "$ctl" --port "$port" process create --memory 8X "$work/-echo.lua"
# Global options after the command, abbreviated while unambiguous.
expect 0 "$ctl" process list --po="$port" --js
grep -q '"processes":\[{' "$work/out" || fail "abbreviated options: $(cat "$work/out")"
# -v shows each request's id and status.
expect 0 "$ctl" -v --port "$port" ping
grep -q "request 1 ping: OK (0)" "$work/err" || fail "-v: $(cat "$work/err")"
# Error lines carry the status name and number.
expect 1 "$ctl" --port "$port" process destroy 999
grep -q "NOT_FOUND (5)" "$work/err" || fail "status number: $(cat "$work/err")"
stop_server
# }===

# {=== benches
expect 0 "$build/tools/crypto-bench" --help
grep -q "^usage: crypto-bench" "$work/out" || fail "crypto-bench --help"
expect 2 "$build/tools/crypto-bench" --bogus
expect 0 "$build/tools/enclave-bench" --help
grep -q "^usage: enclave-bench" "$work/out" || fail "enclave-bench --help"
expect 2 "$build/tools/enclave-bench" --port=abc
expect 2 "$build/tools/enclave-bench" --port
# }===
echo ok
