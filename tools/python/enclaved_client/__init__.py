# SPDX-License-Identifier: AGPL-3.0-or-later
"""A small Python client for enclaved (README "Client developers").

    from enclaved_client import Client
    with Client("127.0.0.1", 7480) as c:
        print(c.info().server_version)
        pid, code_hash = c.create_process(open("app.lua", "rb").read(), name="app")
        ch = c.open_nk(code_hash=code_hash, known_servers="~/.config/enclaved/known_servers")
        ch.send(b"hello")
        print(ch.recv())

It speaks the wire protocol of DESIGN §4 (4-byte big-endian length, then a
protobuf ClientFrame or ServerFrame), matches responses to requests by id,
and opens raw and Noise NK channels with server-key pinning and code-hash
attestation (DESIGN §6). Noise is Debian's python3-dissononce; the protobuf
classes are those protoc generates from proto/enclaved.proto (the module
enclaved_pb2 must be importable: protoc --python_out=DIR proto/enclaved.proto
and put DIR on sys.path; meson does that into the build directory).
"""

from .client import (Client, Channel, NkChannel, KnownServers, StatusError, ChannelClosed,
                     PinMismatch, AttestationError, HandshakeError, fingerprint)

__all__ = ["Client", "Channel", "NkChannel", "KnownServers", "StatusError", "ChannelClosed",
           "PinMismatch", "AttestationError", "HandshakeError", "fingerprint"]
