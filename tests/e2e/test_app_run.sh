#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# enclavectl app run (issue 12 item 10): an app offline in enclaved's own
# core, fed an event script; exact outputs for the broadcast demo's fan-out
# and close over raw, nk and kk channels, a hook error with its Lua message,
# bad event lines (hostile: long, NUL, bad hex, unknown), create-time
# failures, a limit, restart, and sealed state across two runs.
# usage: test_app_run.sh BUILDDIR SOURCE_ROOT
set -euo pipefail

build=$(cd "$1" && pwd) src=$(cd "$2" && pwd)
ctl=$build/tools/enclavectl keygen=$build/tools/enclaved-keygen
app=$src/userdata/apps/broadcast.lua
work=$(mktemp -d "${TMPDIR:-/tmp}/test_app_run.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# expect CODE CMD...: runs CMD with stdout/stderr in $work/out, $work/err.
expect() {
  local want=$1 rc=0; shift
  "$@" >"$work/out" 2>"$work/err" <"${STDIN:-/dev/null}" || rc=$?
  [ "$rc" = "$want" ] || fail "$* exited $rc, want $want; stderr: $(cat "$work/err")"
}
same() { diff -u "$1" "$work/out" >&2 || fail "$2: output differs (above)"; }
err_has() { grep -qF -- "$1" "$work/err" || fail "stderr lacks '$1': $(cat "$work/err")"; }

# {=== the README's example: fan-out between two channels, then a close
cat >"$work/events.txt" <<'EVENTS'
# two clients of the broadcast app
open 1 raw
open 2 nk
msg 1 hello
msg 2 hex:00ff
close 1
msg 2 anyone there?
EVENTS
cat >"$work/want" <<'WANT'
2 <- hello
1 <- hex:00ff
1 closed OK (0): closed by the client
WANT
expect 0 "$ctl" app run "$app" --events "$work/events.txt"
same "$work/want" "broadcast fan-out"
# The README shows this script and this output verbatim.
readme=$src/README.md
sed -n "/^\$ cat > \/tmp\/events.txt <<'EOF'\$/,/^EOF\$/p" "$readme" | sed '1d;$d' >"$work/readme-events"
cmp -s "$work/readme-events" "$work/events.txt" || fail "README's events.txt differs from the test's"
sed -n '/^\$ build\/tools\/enclavectl app run userdata\/apps\/broadcast.lua/,/^```$/p' "$readme" |
  sed '1d;$d' >"$work/readme-out"
cmp -s "$work/readme-out" "$work/want" || fail "README's app run output differs from the test's"
# The same script from stdin, with --opt=value, and enclaved named explicitly.
STDIN=$work/events.txt expect 0 "$ctl" app run --enclaved="$build/server/enclaved" "$app"
same "$work/want" "broadcast from stdin"
# kk: the harness plays the peer enclave; restart closes every channel (UNAVAILABLE).
printf 'open 5 kk\nopen 7 raw\nmsg 7 x\nrestart\nopen 5 raw\nopen 6 raw\nmsg 6 y\n' >"$work/kk.txt"
expect 0 "$ctl" app run "$app" --events "$work/kk.txt"
printf '5 <- x\n7 closed UNAVAILABLE (14): process destroyed\n5 closed UNAVAILABLE (14): process destroyed\n5 <- y\n' >"$work/want"
same "$work/want" "kk and restart"
# }===

# {=== hook errors: the Lua message, the process name as chunk name
cat >"$work/boom.lua" <<'LUA'
function HandleChannelCreate(cid, t) return {{cid, "type " .. t}} end
function HandleChannelMessage(cid, msg)
  if msg == "loop" then while true do end end
  error("boom: " .. msg)
end
LUA
printf 'open 1 nk\nmsg 1 now\nopen 2 raw\nmsg 2 loop\nopen 3 raw\n' >"$work/boom.txt"
expect 0 "$ctl" app run "$work/boom.lua" --events "$work/boom.txt" --name kv -- --max-hook-ms=100 --max-instructions-per-hook=100000000000
cat >"$work/want" <<'WANT'
1 <- type 2
1 closed INTERNAL (13): kv:4: boom: now
2 <- type 1
2 closed DEADLINE_EXCEEDED (4): time limit exceeded (max_hook_ms)
3 <- type 1
WANT
same "$work/want" "hook errors"
# A channel limit refuses the open, as ChannelOpen would.
printf 'open 1 raw\nopen 2 raw\n' >"$work/two.txt"
expect 0 "$ctl" app run "$work/boom.lua" --events "$work/two.txt" -- --max-channels-per-process=1
printf '1 <- type 1\n2 refused RESOURCE_EXHAUSTED (8): too many channels (max_channels_per_process)\n' >"$work/want"
same "$work/want" "channel limit"
# }===

# {=== bad event lines: exit 2 with FILE:LINE, the events before it ran
bad() {  # bad LINE MESSAGE [ENCLAVED-SETTINGS...]
  local line=$1 msg=$2; shift 2
  { printf 'open 1 raw\nopen 2 raw\nmsg 1 before\n'; printf '%s\n' "$line"; printf 'msg 1 after\n'; } >"$work/bad.txt"
  expect 2 "$ctl" app run "$app" --events "$work/bad.txt" -- "$@"
  printf '2 <- before\n' >"$work/want"
  same "$work/want" "bad line '$line'"
  err_has "$work/bad.txt:4: $msg"
}
bad 'bogus 1' "unknown event 'bogus'"
bad 'open 3 tls' "open: the type must be raw, nk or kk"
bad 'open 1 raw' "open: channel 1 is already open"
bad 'open 0 raw' "the channel must be a number 1..4294967295"
bad 'open 4294967296 raw' "the channel must be a number 1..4294967295"
bad 'open 3' "open needs a channel and raw, nk or kk"
bad 'msg 9 x' "channel 9 is not open"
bad 'close' "the channel must be a number"
bad 'msg 1 hex:abc' "msg: hex: needs an even number of hex digits"
bad 'msg 1 hex:zz' "msg: hex: needs an even number of hex digits"
bad "msg 1 $(head -c 200 /dev/zero | tr '\0' a)" "a line longer than 95 bytes" --max-message=16
printf 'open 1 raw\nmsg 1 a\0b\n' >"$work/nul.txt"
expect 2 "$ctl" app run "$app" --events "$work/nul.txt"
err_has "$work/nul.txt:2: a line longer than"
# At a terminal (script(1) from bsdutils gives it a pty) a bad line is said and the
# run goes on; the exit code still says 2.
rc=0
{ printf 'bogus\nopen 1 raw\nopen 2 raw\nmsg 1 typed\n'; sleep 0.5; printf '\004'; } |
  script -qec "'$ctl' app run '$app'" /dev/null >"$work/tty" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "app run at a terminal exited $rc: $(cat "$work/tty")"
grep -q "stdin:1: unknown event 'bogus'" "$work/tty" || fail "no error at the terminal: $(cat "$work/tty")"
grep -q "^2 <- typed" "$work/tty" || fail "the run stopped at the bad line: $(cat "$work/tty")"
# Random bytes (seeded): a clean refusal, never a crash (the ASan build runs this too).
for seed in 1 2 3; do
  python3 -c "import random, sys; r = random.Random($seed); sys.stdout.buffer.write(b'open 1 raw\\n' + bytes(r.choice(b'omsgclh 1:x\\n\\0\\xff#') for _ in range(20000)))" >"$work/rand.txt"
  rc=0; "$ctl" app run "$app" --events "$work/rand.txt" -- --max-message=64 >/dev/null 2>"$work/err" || rc=$?
  [ "$rc" = 0 ] || [ "$rc" = 2 ] || fail "random events (seed $seed) exited $rc: $(cat "$work/err")"
  grep -q "rand.txt:[0-9]*: " "$work/err" || [ "$rc" = 0 ] || fail "random events: no line number"
done
# An input over max_message closes its channel, as on the server.
{ printf 'open 1 raw\nmsg 1 '; head -c 17 /dev/zero | tr '\0' a; printf '\n'; } >"$work/big.txt"
expect 0 "$ctl" app run "$app" --events "$work/big.txt" -- --max-message=16
printf '1 closed RESOURCE_EXHAUSTED (8): message over max_message\n' >"$work/want"
same "$work/want" "input over max_message"
# }===

# {=== create-time failures: exit 1 with the status and the Lua message
printf 'x = = 1\n' >"$work/syntax.lua"
expect 1 "$ctl" app run "$work/syntax.lua" --events "$work/events.txt"
err_has "syntax.lua: INVALID_ARGUMENT (3): syntax:1:"
[ ! -s "$work/out" ] || fail "output from an app that did not load: $(cat "$work/out")"
printf 'error("no config")\n' >"$work/raise.lua"
expect 1 "$ctl" app run "$work/raise.lua" --events "$work/events.txt"
err_has "raise.lua: INVALID_ARGUMENT (3): raise:1: no config"
printf 'while true do end\n' >"$work/spin.lua"
expect 1 "$ctl" app run "$work/spin.lua" --events "$work/events.txt" -- --max-hook-ms=100
err_has "spin.lua: DEADLINE_EXCEEDED (4):"
expect 1 "$ctl" app run "$work/missing.lua" --events "$work/events.txt"
err_has "cannot open $work/missing.lua"
# }===

# {=== usage
expect 2 "$ctl" app run
err_has "app run needs a FILE"
expect 2 "$ctl" app run "$app" --memory lots
expect 2 "$ctl" app run "$app" --events "$work/none.txt"
err_has "cannot open $work/none.txt"
expect 2 "$ctl" app run "$app" -- --bogus
expect 2 "$build/server/enclaved" --ephemeral-keys --events "$work/events.txt"
err_has "need --run-app"
ENCLAVED=$work/none expect 6 "$ctl" app run "$app"
err_has "cannot run $work/none"
expect 0 "$ctl" help app run
grep -q "open CID raw|nk|kk" "$work/out" || fail "app run --help lacks the events"
# }===

# {=== sealed state handed to the client survives a restart of the whole run
# The README's example app, taken from its section.
sed -n '/^### Keeping state across restarts/,/^### /p' "$readme" | sed -n '/^```lua$/,/^```$/p' |
  sed '1d;$d' >"$work/counter.lua"
grep -q "enclave.encrypt" "$work/counter.lua" || fail "no counter app in the README"
mkdir "$work/ud"
"$keygen" "$work/ud/keys" >/dev/null 2>&1
printf 'open 1 raw\nmsg 1 +\nmsg 1 +\n' >"$work/c1.txt"
expect 0 "$ctl" app run "$work/counter.lua" --events "$work/c1.txt" -- --userdata "$work/ud"
blob=$(sed -n 's/^1 <- hex://p' "$work/out" | tail -n 1)
[ -n "$blob" ] || fail "no sealed blob: $(cat "$work/out")"
printf 'open 1 raw\nmsg 1 hex:%s\nmsg 1 +\n' "$blob" >"$work/c2.txt"
expect 0 "$ctl" app run "$work/counter.lua" --events "$work/c2.txt" -- --userdata "$work/ud"
[ "$(sed -n 1,2p "$work/out")" = "$(printf '1 <- restored 2\n1 <- count 3')" ] ||
  fail "state not restored: $(cat "$work/out")"
# Random keys (no --userdata): another sealing secret, so the blob does not open.
printf 'open 1 raw\nmsg 1 hex:%s\n' "$blob" >"$work/c3.txt"
expect 0 "$ctl" app run "$work/counter.lua" --events "$work/c3.txt"
grep -qx "1 closed INTERNAL (13): counter:4: decrypt failed" "$work/out" ||
  fail "a blob opened under other keys: $(cat "$work/out")"
# }===
echo ok
