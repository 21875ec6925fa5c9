#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# scripts/mkuserdata is reproducible: two copies of one tree with different
# mtimes, umask and creation order give byte-identical images; and it fails
# clearly on a missing directory and on symlinks.
# usage: test_mkuserdata.sh PATH/TO/mkuserdata
set -euo pipefail

mk=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/test_mkuserdata.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

make_tree() { # DIR UMASK MTIME ORDER
  local dir=$1
  ( umask "$2"
    mkdir -p "$dir"
    if [ "$4" = forward ]; then
      mkdir -p "$dir/etc" "$dir/apps" "$dir/keys"
      printf 'listen = 127.0.0.1:7480\n' >"$dir/etc/enclaved.conf"
      printf 'return {}\n' >"$dir/apps/b.lua"
      printf 'return 1\n' >"$dir/apps/a.lua"
      head -c 32 /dev/zero >"$dir/keys/noise_static.key"
    else
      mkdir -p "$dir/keys" "$dir/apps" "$dir/etc"
      head -c 32 /dev/zero >"$dir/keys/noise_static.key"
      printf 'return 1\n' >"$dir/apps/a.lua"
      printf 'return {}\n' >"$dir/apps/b.lua"
      printf 'listen = 127.0.0.1:7480\n' >"$dir/etc/enclaved.conf"
    fi
    find "$dir" -exec touch -d "$3" {} + )
}

make_tree "$work/one" 022 "2001-02-03 04:05:06" forward
make_tree "$work/two" 077 "2024-12-31 23:59:59" reverse
chmod 0700 "$work/two/apps"

out1=$("$mk" "$work/one" "$work/one.cpio")
out2=$(umask 002; "$mk" "$work/two" "$work/two.cpio")
cmp "$work/one.cpio" "$work/two.cpio" || fail "images differ"
sum=$(sha256sum "$work/one.cpio" | cut -d' ' -f1)
[ "$out1" = "$sum  $work/one.cpio" ] || fail "unexpected output '$out1'"
[ "${out2%% *}" = "$sum" ] || fail "second run printed '$out2'"

# Sorted names, owner 0, mtime 0, fixed modes.
listing=$(cpio -itv --quiet <"$work/one.cpio")
expected="drwxr-xr-x   2 root     root            0 Jan  1  1970 apps
-rw-r--r--   1 root     root            9 Jan  1  1970 apps/a.lua
-rw-r--r--   1 root     root           10 Jan  1  1970 apps/b.lua
drwxr-xr-x   2 root     root            0 Jan  1  1970 etc
-rw-r--r--   1 root     root           24 Jan  1  1970 etc/enclaved.conf
drwxr-xr-x   2 root     root            0 Jan  1  1970 keys
-rw-------   1 root     root           32 Jan  1  1970 keys/noise_static.key"
[ "$(TZ=UTC cpio -itv --quiet <"$work/one.cpio")" = "$expected" ] || {
  echo "$listing" >&2; fail "unexpected listing"; }

# The source tree is not modified.
[ "$(stat -c %a "$work/two/apps")" = 700 ] || fail "source tree modes changed"

# Clear failures.
if err=$("$mk" "$work/missing" "$work/x.cpio" 2>&1); then fail "missing dir accepted"; fi
[[ $err == *"no such directory"* ]] || fail "missing dir message: $err"
ln -s a.lua "$work/one/apps/link.lua"
if err=$("$mk" "$work/one" "$work/x.cpio" 2>&1); then fail "symlink accepted"; fi
[[ $err == *"symlink"*"apps/link.lua"* ]] || fail "symlink message: $err"
[ ! -e "$work/x.cpio" ] || fail "output written on failure"
rm "$work/one/apps/link.lua"

# --help is success; a bad option or a missing operand is a usage error (2).
"$mk" --help | grep -q "^usage: mkuserdata" || fail "--help output"
set +e; "$mk" --bogus "$work/one" "$work/x.cpio" 2>/dev/null; rc=$?; set -e
[ "$rc" = 2 ] || fail "--bogus exit $rc"
set +e; "$mk" "$work/one" 2>/dev/null; rc=$?; set -e
[ "$rc" = 2 ] || fail "one operand exit $rc"

# --sign without tct2 (not on PATH, none in /opt/nfast/bin here) fails and
# says what to run; nothing claims to be signed.
if [ ! -x /opt/nfast/bin/tct2 ]; then
  set +e; err=$(PATH=/usr/bin:/bin "$mk" --sign --key opkey --machine-key-ident=mk "$work/one" "$work/s.cpio" 2>&1 >/dev/null); rc=$?; set -e
  [ "$rc" = 1 ] || fail "--sign without tct2 exit $rc"
  [[ $err == *"tct2 --sign-and-pack --key=opkey --machine-key-ident=mk --infile=$work/s.cpio --outfile=$work/s.cpio.sar"* ]] ||
    fail "sign message: $err"
  [ ! -e "$work/s.cpio.sar" ] || fail "a SAR appeared"
fi
# --dry-run prints the command and succeeds.
out=$(PATH=/usr/bin:/bin "$mk" --sign --key=opkey --machine-key-ident mk --dry-run "$work/one" "$work/s.cpio")
[[ $out == *"would run: "*"--sign-and-pack --key=opkey --machine-key-ident=mk --infile=$work/s.cpio --outfile=$work/s.cpio.sar"* ]] ||
  fail "dry-run output: $out"
# With a tct2 on PATH (a stand-in: Entrust's tool is not on this machine) it
# runs it with those flags and prints the SAR's SHA-256.
mkdir "$work/bin"
cat >"$work/bin/tct2" <<'FAKE'
#!/bin/sh
for a in "$@"; do case "$a" in --outfile=*) o=${a#--outfile=} ;; esac; done
echo "$*" >"$o.args"; printf 'SAR' >"$o"
FAKE
chmod +x "$work/bin/tct2"
out=$(PATH="$work/bin:/usr/bin:/bin" "$mk" --sign --key=opkey --machine-key-ident=mk "$work/one" "$work/s.cpio")
sar_sum=$(sha256sum "$work/s.cpio.sar" | cut -d' ' -f1)
[[ $out == *"$sar_sum  $work/s.cpio.sar"* ]] || fail "SAR hash not printed: $out"
grep -q -- "--sign-and-pack --key=opkey --machine-key-ident=mk --infile=$work/s.cpio" "$work/s.cpio.sar.args" ||
  fail "tct2 args: $(cat "$work/s.cpio.sar.args")"
# A tct2 that fails makes mkuserdata fail.
printf '#!/bin/sh\nexit 3\n' >"$work/bin/tct2"
if PATH="$work/bin:/usr/bin:/bin" "$mk" --sign --key=opkey --machine-key-ident=mk "$work/one" "$work/s.cpio" >/dev/null 2>&1; then
  fail "failing tct2 accepted"
fi
if "$mk" "$work/one" "$work/s.cpio" --sign 2>/dev/null; then fail "--sign without key accepted"; fi
echo "ok"
