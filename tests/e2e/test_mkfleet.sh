#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# scripts/mkfleet: one set of fleet keys in every member image, each member
# its own listen address and the members after it as `peers` (each pair
# once), the same app bytes everywhere with FLEET_SIZE set, a valid HAProxy
# config, and byte-identical output from identical input. Bad input fails.
# usage: test_mkfleet.sh PATH/TO/mkfleet PATH/TO/enclaved-keygen
set -euo pipefail

mk=$1
keygen=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/test_mkfleet.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

members=127.0.0.1:7601,127.0.0.1:7602,127.0.0.1:7603,127.0.0.1:7604
"$mk" "$work/a" --members "$members" --frontend 127.0.0.1:7600 --keygen "$keygen" \
  --set log_level=debug >"$work/a.out"
[ -s "$work/a/fleet.pub" ] || fail "no fleet.pub after generating keys"

for i in 1 2 3 4; do
  t=$work/a/member-$i
  cmp -s "$t/keys/noise_static.key" "$work/a/keys/noise_static.key" || fail "member $i static key"
  cmp -s "$t/keys/sealing_secret.key" "$work/a/keys/sealing_secret.key" || fail "member $i sealing secret"
  grep -qx "listen = 127.0.0.1:760$i" "$t/etc/enclaved.conf" || fail "member $i listen"
  grep -qx "log_level = debug" "$t/etc/enclaved.conf" || fail "member $i --set line"
  grep -q "^local FLEET_SIZE = 4 " "$t/apps/pinvault.lua" || fail "member $i FLEET_SIZE"
  cmp -s "$t/apps/pinvault.lua" "$work/a/member-1/apps/pinvault.lua" || fail "member $i app differs"
done
grep -qx "peers = 127.0.0.1:7602,127.0.0.1:7603,127.0.0.1:7604" "$work/a/member-1/etc/enclaved.conf" ||
  fail "member 1 peers"
grep -qx "peers = 127.0.0.1:7604" "$work/a/member-3/etc/enclaved.conf" || fail "member 3 peers"
! grep -q "^peers" "$work/a/member-4/etc/enclaved.conf" || fail "member 4 dials nobody"
# Each of the 6 pairs exactly once over all members.
pairs=$(for i in 1 2 3 4; do
  sed -n 's/^peers = //p' "$work/a/member-$i/etc/enclaved.conf" | tr , '\n' | sed "s/^/$i->/"
done | wc -l)
[ "$pairs" -eq 6 ] || fail "$pairs peer entries, expected 6"

hash=$(sha256sum <"$work/a/member-1/apps/pinvault.lua" | cut -d' ' -f1)
grep -qx "FLEET_CODE_HASH=$hash" "$work/a/fleet.env" || fail "fleet.env code hash"
grep -q "tcp-check send-binary 000000060a0408011200" "$work/a/haproxy.cfg" || fail "health check send"
grep -q "tcp-check expect binary 000000040a020801" "$work/a/haproxy.cfg" || fail "health check expect"
[ "$(grep -c '^    server member-' "$work/a/haproxy.cfg")" -eq 4 ] || fail "haproxy servers"
if command -v haproxy >/dev/null; then
  haproxy -c -q -f "$work/a/haproxy.cfg" || fail "haproxy rejects the config"
fi

# Same keys and arguments elsewhere: byte-identical images and config.
"$mk" "$work/b" --members "$members" --frontend 127.0.0.1:7600 --keys "$work/a/keys" \
  --set log_level=debug >/dev/null
for f in member-1.cpio member-2.cpio member-3.cpio member-4.cpio haproxy.cfg; do
  cmp -s "$work/a/$f" "$work/b/$f" || fail "$f differs between identical runs"
done

# Bad input: each fails with a message, and a non-zero status.
expect_fail() {
  if "$mk" "$@" >"$work/err.out" 2>&1; then fail "accepted: $*"; fi
  grep -q "mkfleet:\|usage:" "$work/err.out" || fail "no message for: $*"
}
expect_fail "$work/c" --members 127.0.0.1:1,localhost:2 --keys "$work/a/keys"
expect_fail "$work/c" --members 127.0.0.1:1,127.0.0.1:1 --keys "$work/a/keys"
expect_fail "$work/c" --members 127.0.0.1:1 --keys "$work/nokeys"
expect_fail "$work/c" --members 127.0.0.1:1 --keys "$work/a/keys" --set peers=1.2.3.4:5
expect_fail "$work/c" --members 127.0.0.1:1 --keys "$work/a/keys" --set nokey
expect_fail "$work/c"
# --help: the usage and every option on stdout, exit 0; an unknown option: exit 2.
"$mk" --help >"$work/help.out" || fail "--help exited $?"
for o in --members --frontend --keys --app --set --keygen; do
  grep -q -- "^ *$o " "$work/help.out" || fail "--help lacks $o"
done
rc=0; "$mk" "$work/c" --members 127.0.0.1:1 --bogus 2>"$work/err.out" || rc=$?
[ "$rc" = 2 ] || fail "an unknown option exited $rc, want 2"
echo "mkfleet: ok"
