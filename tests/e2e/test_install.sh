#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# `meson install` into a DESTDIR puts what a user needs in place: the
# binaries and mkuserdata, the client library (shared and static) with
# self-contained headers and enclaved-client.pc, the proto under share/, the
# man pages and the systemd unit. A small C client is built against the
# installed pkg-config file, both ways, and talks to the installed server.
# Every option the binaries' --help lists appears in their man page.
# usage: test_install.sh BUILDDIR
set -euo pipefail

build=$(cd "$1" && pwd)
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init test_install
dest=$work/dest

meson install -C "$build" --destdir "$dest" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log" >&2; fail "meson install"; }
options=$(meson introspect "$build" --buildoptions | python3 -c '
import json, sys
o = {o["name"]: o["value"] for o in json.load(sys.stdin)}
print(o["prefix"], o["b_sanitize"])')
prefix=${options% *} sanitize=${options#* }
# A sanitizer build's library needs the same runtime in the client.
san=()
[ "$sanitize" = none ] || san=("-fsanitize=$sanitize")
root=$dest$prefix
pc=$(find "$root" -name enclaved-client.pc)
[ -n "$pc" ] || fail "no enclaved-client.pc"
libdir=$(dirname "$(dirname "$pc")")
for f in bin/enclaved bin/enclavectl bin/enclaved-keygen bin/enclave-bench bin/mkuserdata \
         share/enclaved/enclaved.proto share/man/man8/enclaved.8 share/man/man5/enclaved.conf.5 \
         share/man/man1/enclavectl.1 share/man/man1/enclave-bench.1 \
         lib/systemd/system/enclaved.service include/enclaved/lib/client.h \
         include/enclaved/enclaved.pb-c.h; do
  [ -e "$root/$f" ] || fail "not installed: $f"
done
[ -x "$root/bin/mkuserdata" ] || fail "mkuserdata not executable"
[ -e "$libdir/libenclaved-client.a" ] || fail "no static library"
[ -e "$libdir/libenclaved-client.so" ] || fail "no shared library"
grep -q "^ExecStart=$prefix/bin/enclaved " "$root/lib/systemd/system/enclaved.service" ||
  fail "unit ExecStart: $(grep ExecStart "$root/lib/systemd/system/enclaved.service")"

export PKG_CONFIG_PATH=$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest
cflags=$(pkg-config --cflags enclaved-client)
# Each installed header compiles on its own.
while IFS= read -r h; do
  rel=${h#"$root/include/enclaved/"}
  printf '#include "%s"\n' "$rel" | cc -std=c11 -Wall -Werror -fsyntax-only $cflags -x c - ||
    fail "header $rel is not self-contained"
done < <(find "$root/include/enclaved" -name '*.h')

cat >"$work/client.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include "lib/client.h"
#include "lib/pin.h"

int main(int argc, char **argv)
{
    struct client *c = NULL;
    Enclaved__ServerFrame *f = NULL;
    char fp[PIN_FINGERPRINT_LEN];

    if (argc != 2 || client_connect("127.0.0.1", (uint16_t)atoi(argv[1]), 5000, &c) != STATUS_OK) {
        return 1;
    }
    if (client_ping(c) != STATUS_OK || client_get_info(c, &f) != STATUS_OK ||
        f->response->info->public_key.len != PIN_KEY_LEN) {
        return 1;
    }
    pin_fingerprint(f->response->info->public_key.data, fp);
    printf("%s %s\n", f->response->info->server_version, fp);
    client_frame_free(f);
    client_free(c);
    return 0;
}
C
cc -std=c11 -Wall -Werror "${san[@]}" $cflags "$work/client.c" -o "$work/client-shared" \
  $(pkg-config --libs enclaved-client) || fail "shared build"
cc -std=c11 -Wall -Werror "${san[@]}" $cflags "$work/client.c" -o "$work/client-static" \
  "$libdir/libenclaved-client.a" $(pkg-config --libs libprotobuf-c libsodium) -lpthread || fail "static build"
ldd "$work/client-static" | grep -q libenclaved-client && fail "static client links the .so"

start_server "$root/bin/enclaved" --ephemeral-keys --listen=127.0.0.1:0
want=$("$root/bin/enclavectl" --port "$port" --json info | python3 -c '
import json, sys
i = json.load(sys.stdin); print(i["server_version"], i["fingerprint"])')
got=$(LD_LIBRARY_PATH=$libdir "$work/client-shared" "$port") || fail "shared client failed"
[ "$got" = "$want" ] || fail "shared client printed '$got', want '$want'"
got=$("$work/client-static" "$port") || fail "static client failed"
[ "$got" = "$want" ] || fail "static client printed '$got', want '$want'"

# Man pages cover every long option the binaries list.
man_has() { grep -q -- "$2" "$root/share/man/$1" || fail "$1 lacks $2"; }
"$root/bin/enclaved" --help >"$work/help"
[ "$(sed -n '/^Settings/,$p' "$work/help" | grep -c '^  --')" -ge 10 ] || fail "no settings in --help"
for o in $(sed '/^Settings/,$d' "$work/help" | sed -n 's/^ *\(-[a-z], \)\{0,1\}--\([a-z_-]*\).*/\2/p'); do
  man_has man8/enclaved.8 "$o"
done
for o in $(sed -n '/^Settings/,$p' "$work/help" | sed -n 's/^ *--\([a-z_]*\).*/\1/p'); do
  man_has man5/enclaved.conf.5 "$o"
done
for o in $("$root/bin/enclavectl" --help | sed -n 's/^ *\(-[a-z], \)\{0,1\}--\([a-z_-]*\).*/\2/p'); do
  man_has man1/enclavectl.1 "$o"
done
# Every command, and each command's own options.
"$root/bin/enclavectl" --help | sed -n '/^commands:/,/^$/p' | sed -n 's/^  \([a-z]\{1,\}\( [a-z]\{1,\}\)\{0,1\}\).*/\1/p' >"$work/commands"
[ "$(wc -l <"$work/commands")" -ge 8 ] || fail "no commands in enclavectl --help"
while IFS= read -r cmd; do
  man_has man1/enclavectl.1 "$cmd"
  for o in $("$root/bin/enclavectl" help $cmd | sed -n '/^options:/,/^$/p' | sed -n 's/^ *--\([a-z_-]*\).*/\1/p'); do
    man_has man1/enclavectl.1 "$o"
  done
done <"$work/commands"
echo "installed into $dest$prefix; C client built from enclaved-client.pc (shared and static) ok"
echo ok
