#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# The Go example (tools/go/main.go) builds offline from Debian's packages:
# protoc-gen-go generates the bindings (the proto's go_package names them),
# and GOPATH mode finds google.golang.org/protobuf in /usr/share/gocode. It
# then talks to the real server: GetInfo, ProcessCreate, a raw channel echo.
# usage: test_go_example.sh ENCLAVED SOURCE_ROOT BUILDDIR
set -euo pipefail

enclaved=$1 src=$(cd "$2" && pwd) build=$(cd "$3" && pwd)
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init test_go

gopath=$work/gopath
mkdir -p "$gopath/src/enclaved.example/enclavedpb" "$gopath/src/enclaved.example/client"
protoc --proto_path="$src/proto" --go_out="$work" "$src/proto/enclaved.proto" ||
  fail "protoc --go_out"
cp "$work/enclaved.example/enclavedpb/enclaved.pb.go" "$gopath/src/enclaved.example/enclavedpb/"
cp "$src/tools/go/main.go" "$gopath/src/enclaved.example/client/"
# Offline: no module proxy, no network; the build cache stays in the build dir.
(cd "$gopath/src/enclaved.example/client" &&
  GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOPROXY=off GOFLAGS= \
  GOCACHE="$build/go-cache" go build -o "$work/enclaved-go-example" .) || fail "go build"

start_server "$enclaved" --ephemeral-keys --listen=127.0.0.1:0
out=$("$work/enclaved-go-example" "127.0.0.1:$port") || fail "go example failed: $out"
[[ $out == *"server 0."*"protocol 1 key "* ]] || fail "info line: $out"
[[ $out == *"echo hello from go"* ]] || fail "no echo: $out"
echo "$out"
echo ok
