#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# The README's two-terminal demo, typed into two real terminals (tmux panes):
# pane A runs `enclavectl channel open nk --process 1`, pane B
# `enclavectl channel open raw --process 1`, both against the broadcast app
# of the default userdata image. A line typed in one pane must appear in the
# other without anything typed there. Prints the latency it measured (the
# README's promise is 100 ms); asserts only a generous "does not hang" bound.
# usage: test_demo_tmux.sh ENCLAVED ENCLAVECTL IMAGE [uv|poll]
set -euo pipefail

enclaved=$1 ctl=$2 image=$3 io=${4:-uv}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init test_demo_tmux
sock="demo$$"
cleanup() {
  tm kill-server 2>/dev/null || true
  e2e_cleanup
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for p in 0 1; do echo "--- pane $p" >&2; tm capture-pane -p -t "demo:0.$p" >&2 2>&1 || true; done; tm list-sessions >&2 2>&1 || true
  echo "--- server log" >&2; cat "$work/server.log" >&2 || true
  exit 1
}
# A tmux server of its own (-L), so the test never touches a user's tmux.
tm() { tmux -L "$sock" "$@"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# Waits (up to limit ms) until pane $1's screen contains $2; prints the ms it took.
wait_for_text() {
  local pane=$1 text=$2 limit=$3 start
  start=$(now_ms)
  while :; do
    if tm capture-pane -p -t "$pane" | grep -qF -- "$text"; then
      echo $(( $(now_ms) - start )); return 0
    fi
    [ $(( $(now_ms) - start )) -lt "$limit" ] || return 1
    sleep 0.005
  done
}

start_server "$enclaved" --userdata "$image" --ephemeral-keys --listen=127.0.0.1:0 --io="$io"

# Each pane is a shell with HOME in the work directory (known_servers lands there).
tm -f /dev/null new-session -d -s demo -x 160 -y 40 \
  "env HOME=$work $ctl --port $port channel open nk --process 1; sleep 60"
tm select-pane -t demo:0.0 -T a
tm split-window -t demo:0 -v \
  "env HOME=$work $ctl --port $port channel open raw --process 1; sleep 60"
a=demo:0.0 b=demo:0.1
wait_for_text "$a" " open (nk)" 30000 >/dev/null || fail "pane A did not open its channel"
wait_for_text "$b" " open (raw)" 30000 >/dev/null || fail "pane B did not open its channel"

# Typed in A, shown in B; typed in B, shown in A. Nothing is typed in the receiver.
tm send-keys -t "$a" "hello from the nk pane" Enter
ab=$(wait_for_text "$b" "hello from the nk pane" 5000) || fail "B never showed A's line"
tm send-keys -t "$b" "hello from the raw pane" Enter
ba=$(wait_for_text "$a" "hello from the raw pane" 5000) || fail "A never showed B's line"
# A second line right after: sending did not wait for an answer that never comes.
tm send-keys -t "$a" "second line" Enter
ab2=$(wait_for_text "$b" "second line" 5000) || fail "B never showed A's second line"

echo "demo latency (send-keys to capture-pane, includes tmux polling): A->B ${ab} ms, B->A ${ba} ms, A->B again ${ab2} ms (io=$io)"
# The known-servers file remembered the key of the nk pane's server.
grep -q "^127.0.0.1:$port [0-9a-f]\{64\}$" "$work/.config/enclaved/known_servers" || fail "key not remembered"
echo ok
