#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# enclaved-keygen writes two 32-byte keys 0600 in a 0700 directory whatever
# the umask, prints only the public key, and refuses to overwrite.
# usage: test_keygen.sh PATH/TO/enclaved-keygen
set -euo pipefail

keygen=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/test_keygen.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

pub=$(umask 000; "$keygen" "$work/keys")
[[ $pub =~ ^[0-9a-f]{64}$ ]] || fail "output '$pub'"
[ "$(stat -c %a "$work/keys")" = 700 ] || fail "dir mode $(stat -c %a "$work/keys")"
for f in noise_static.key sealing_secret.key; do
  [ "$(stat -c %a:%s "$work/keys/$f")" = 600:32 ] || fail "$f: $(stat -c %a:%s "$work/keys/$f")"
done
cmp -s "$work/keys/noise_static.key" "$work/keys/sealing_secret.key" && fail "keys are equal"
before=$(sha256sum "$work/keys"/*)
if "$keygen" "$work/keys" 2>"$work/err"; then fail "overwrite accepted"; fi
grep -q ALREADY_EXISTS "$work/err" || fail "message: $(cat "$work/err")"
[ "$before" = "$(sha256sum "$work/keys"/*)" ] || fail "keys changed"

# One file present: still refused, and the other is not created.
mkdir -m 0700 "$work/half"
: >"$work/half/sealing_secret.key"
if "$keygen" "$work/half" 2>/dev/null; then fail "half pair accepted"; fi
[ ! -e "$work/half/noise_static.key" ] || fail "half pair completed"
echo ok
