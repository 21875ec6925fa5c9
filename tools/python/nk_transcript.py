#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""Prints the frames of one NK exchange with a running enclaved, in hex: the
ChannelOpen request, NK message 1 and 2, one message each way, the close.
The README's transcript comes from this script. The ephemeral keys are fresh,
so every run differs in its key and ciphertext bytes.

usage: PYTHONPATH=tools/python:build/tools/python nk_transcript.py PORT APP.lua
"""

import sys

import enclaved_client.client as ec
from enclaved_client import Client


def main():
    port, app = int(sys.argv[1]), sys.argv[2]
    with Client("127.0.0.1", port) as c:
        _pid, code_hash = c.create_process(open(app, "rb").read(), name="transcript")
        key = bytes(c.info().public_key)
        print("server static key  %s" % key.hex())
        print("code hash          %s" % code_hash.hex())
        sent, got = c._send, c._read_frame

        def send(frame):
            body = frame.SerializeToString()
            print("C->S %-13s %08x %s" % (frame.WhichOneof("kind"), len(body), body.hex()))
            sent(frame)

        def read(deadline):
            f = got(deadline)
            body = f.SerializeToString()
            print("S->C %-13s %08x %s" % (f.WhichOneof("kind"), len(body), body.hex()))
            return f

        c._send, c._read_frame = send, read
        ch = c.open_nk(code_hash=code_hash, server_key=key)
        ch.send(b"ping")
        print("reply: %r" % ch.recv())
        ch.close()
        c._send, c._read_frame = sent, got
        c.destroy_process(code_hash=code_hash)


if __name__ == "__main__":
    ec.pb  # the bindings are importable
    main()
