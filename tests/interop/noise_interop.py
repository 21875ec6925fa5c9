#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""Noise interop: the real enclaved against an independent Noise stack.

The peer side is Debian's python3-dissononce and protobuf bindings that
protoc generates from proto/enclaved.proto into a temporary directory, so
nothing is shared with the server's C code. Covers DESIGN §4 and §6:

  NK  client: pinned static key from GetInfo, attested code hash in
      message 2, chunked transport (empty, 1 B ... 200 KiB), and the ways
      a handshake or transport message can be wrong.
  KK  peer enclave, both roles, holding the fleet's static key from a
      userdata image this script builds with known keys.

usage: /usr/bin/python3 noise_interop.py --server PATH --io uv|poll --proto PATH
           [--source-root DIR] [--vectors JSON] [-k SUBSTRING] [-v]
Ends with "interop: N passed, M failed"; exits 1 on any failure, 77 (meson's
skip) when nothing could run.
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import enclaved_peer as ep  # noqa: E402

ECHO = b"function HandleChannelMessage(cid, msg) return {{cid, msg}} end\n"
# Announces itself on create (after the handshake, DESIGN §5), then echoes.
HELLO = (b"function HandleChannelCreate(cid, t) return {{cid, 'created ' .. t}} end\n"
         b"function HandleChannelMessage(cid, msg) return {{cid, msg}} end\n")


# Listed among the accepted hashes of NK message 1, asks for strict framing of
# the channel's input (DESIGN §6); without it the server reads libsignal's.
STRICT_MARKER = hashlib.sha256(b"enclaved-noise-strict-framing-v1").digest()


class Skip(Exception):
    pass


class Failure(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def short(b):
    b = bytes(b)
    return b.hex() if len(b) <= 40 else "%s...(%d bytes)" % (b[:16].hex(), len(b))


class Suite:
    def __init__(self, args, pb, workdir):
        self.args = args
        self.pb = pb
        self.workdir = workdir
        self.servers = []
        self.main = None          # ephemeral-key server shared by the NK tests
        self.fleet = None         # userdata server with known keys, for KK
        self.fleet_key = None     # its static key pair
        self.fleet_why = None     # why there is no fleet server
        self.fleet_image = None   # its userdata image, for more members
        self.has_processes = None

    # -- servers
    def start(self, **kw):
        s = ep.Server(self.args.server, self.args.io, self.workdir, **kw)
        self.servers.append(s)
        return s

    def main_server(self):
        if self.main is None:
            self.main = self.start()
        return self.main

    def need_processes(self, conn):
        r = conn.request(process_create=self.pb.ProcessCreate(lua_source=ECHO, name="probe"))
        if r.status == self.pb.UNIMPLEMENTED:
            raise Skip("server has no ProcessCreate yet (%s)" % r.message)
        conn.ok(r, "ProcessCreate")

    def fleet_server(self):
        if self.fleet is None and self.fleet_why is None:
            priv = os.urandom(32)
            image = ep.make_userdata(self.workdir, priv, os.urandom(32), self.args.source_root)
            try:
                self.fleet = self.start(userdata=image)
                self.fleet_key = ep.keypair(priv)
                self.fleet_image = image
            except RuntimeError as e:
                self.fleet_why = "server cannot start from a userdata image: %s" % (
                    str(e).strip().splitlines()[-1])
        if self.fleet is None:
            raise Skip(self.fleet_why)
        return self.fleet

    # -- channel helpers
    def expect_closed(self, conn, cid, status, reason=None, allow_data=False):
        """The next event on cid must be ChannelClosed with status (and reason)."""
        while True:
            kind, val = conn.next_event(cid)
            if kind == "data" and allow_data:
                continue
            if kind != "closed":
                raise Failure("expected ChannelClosed %s, got ChannelData %s"
                              % (self.pb.Status.Name(status), short(val)))
            got, why = val
            check(got == status, "ChannelClosed status %s (%r), expected %s"
                  % (self.pb.Status.Name(got), why, self.pb.Status.Name(status)))
            if reason is not None:
                check(why == reason, "ChannelClosed reason %r, expected %r" % (why, reason))
            return

    def expect_data(self, conn, cid):
        kind, val = conn.next_event(cid)
        if kind == "closed":
            raise Failure("channel %d closed: %s %r" % (cid, self.pb.Status.Name(val[0]), val[1]))
        return val

    def nk_open(self, conn, server_pub, code_hash, process_id=None, accept=None, by_hash=False):
        """Opens a CLIENT_NK channel and completes the handshake."""
        cid = conn.open_channel(self.pb.CLIENT_NK, process_id=None if by_hash else process_id,
                                code_hash=code_hash if by_hash else None)
        peer = ep.NoisePeer("NK", True, rs=ep.public_key(server_pub))
        msg1 = peer.write(b"".join(accept if accept is not None else [code_hash]))
        conn.send_data(cid, msg1)
        msg2 = self.expect_data(conn, cid)
        check(len(msg2) == 32 + 32 + 16, "NK message 2 is %d bytes, expected 80" % len(msg2))
        attested = peer.read(msg2)
        check(attested == code_hash, "message 2 attests %s, expected %s"
              % (short(attested), short(code_hash)))
        check(peer.done, "handshake not complete after message 2")
        return cid, peer

    def echo(self, conn, cid, peer, msg):
        conn.send_data(cid, peer.encrypt(msg))
        ct = self.expect_data(conn, cid)
        pt = peer.decrypt(ct)
        check(pt == msg, "echo of %d bytes came back as %d different bytes" % (len(msg), len(pt)))
        return ct

    def nk_setup(self, source=ECHO):
        srv = self.main_server()
        conn = srv.connect(self.pb)
        self.need_processes(conn)
        info = conn.get_info()
        check(len(info.public_key) == 32, "GetInfo public_key is %d bytes" % len(info.public_key))
        pid, code_hash = conn.create_process(source)
        return conn, info.public_key, pid, code_hash


# ---------------------------------------------------------------- tests

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def peer_replays_noise_vectors(t):
    """The independent peer itself agrees with published NK/KK vectors, so a
    failure below is the server's, not the harness's."""
    path = t.args.vectors
    if not path or not os.path.exists(path):
        raise Skip("no Noise vector file (--vectors)")
    with open(path) as f:
        vectors = json.load(f)["vectors"]
    check(vectors, "vector file has no vectors")
    for n, v in enumerate(vectors):
        pattern = v["protocol_name"].split("_")[1]
        x = lambda k: bytes.fromhex(v[k]) if k in v else None  # noqa: E731
        pair = lambda k: ep.keypair(x(k)) if k in v else None  # noqa: E731
        pub = lambda k: ep.public_key(x(k)) if k in v else None  # noqa: E731
        init = ep.NoisePeer(pattern, True, s=pair("init_static"), rs=pub("init_remote_static"),
                            e_private=x("init_ephemeral"), prologue=x("init_prologue"))
        resp = ep.NoisePeer(pattern, False, s=pair("resp_static"), rs=pub("resp_remote_static"),
                            e_private=x("resp_ephemeral"), prologue=x("resp_prologue"))
        for i, m in enumerate(v["messages"]):
            writer, reader = (init, resp) if i % 2 == 0 else (resp, init)
            pt, want = bytes.fromhex(m["payload"]), bytes.fromhex(m["ciphertext"])
            if not writer.done:
                got = writer.write(pt)
                check(reader.read(got) == pt, "vector %d message %d: round trip" % (n, i))
            else:
                got = writer.send_cs.encrypt_with_ad(b"", pt)
                check(reader.recv_cs.decrypt_with_ad(b"", got) == pt, "vector %d message %d" % (n, i))
            check(got == want, "vector %d (%s) message %d differs" % (n, v["protocol_name"], i))
        if "handshake_hash" in v:
            check(init.handshake_hash == x("handshake_hash"), "vector %d handshake hash" % n)


@test
def nk_echo_100_messages(t):
    conn, pub, pid, h = t.nk_setup()
    check(h == ep.sha256(ECHO), "code_hash is not SHA-256 of the source")
    # Several acceptable hashes, the right one last.
    cid, peer = t.nk_open(conn, pub, h, pid, accept=[os.urandom(32), os.urandom(32), h])
    rng = random.Random(1234)
    sizes = [0, 1, 15, 16, 17, 32, 1000, ep.CHUNK - 1, ep.CHUNK, ep.CHUNK + 1,
             2 * ep.CHUNK, 2 * ep.CHUNK + 1, 200 * 1024, 0]
    while len(sizes) < 100:
        sizes.append(rng.randrange(0, 5000))
    for n in sizes:
        t.echo(conn, cid, peer, rng.randbytes(n))
    # Pipelined: ten in flight, echoes must come back in order.
    batch = [rng.randbytes(rng.randrange(0, 3000)) for _ in range(10)]
    for m in batch:
        conn.send_data(cid, peer.encrypt(m))
    for m in batch:
        check(peer.decrypt(t.expect_data(conn, cid)) == m, "pipelined echo out of order or wrong")
    conn.send_close(cid)
    t.expect_closed(conn, cid, t.pb.OK)
    conn.close()


@test
def nk_chunk_layout(t):
    """The server's own encryption: full 65535-byte pieces, then a last piece
    that is never full (an empty one after a plaintext that fills whole pieces)."""
    conn, pub, pid, h = t.nk_setup()
    cid, peer = t.nk_open(conn, pub, h, pid)
    for n, want in [(0, [16]), (ep.CHUNK, [65535, 16]), (ep.CHUNK + 1, [65535, 17]),
                    (200 * 1024, [65535, 65535, 65535, 204800 - 3 * ep.CHUNK + 16])]:
        ct = t.echo(conn, cid, peer, os.urandom(n))
        got = [min(65535, len(ct) - i) for i in range(0, len(ct), 65535)]
        check(got == want, "%d-byte message encrypted as pieces %s, expected %s" % (n, got, want))
    conn.close()


@test
def nk_pinned_key_and_open_by_hash(t):
    conn, pub, pid, h = t.nk_setup()
    # GetInfo is stable and the handshake against it works when the channel is
    # opened by code hash too.
    check(conn.get_info().public_key == pub, "GetInfo public key changed between calls")
    cid, peer = t.nk_open(conn, pub, h, by_hash=True)
    t.echo(conn, cid, peer, b"by hash")
    # A second connection sees the same key.
    other = t.main.connect(t.pb)
    check(other.get_info().public_key == pub, "another connection sees another public key")
    other.close()
    conn.close()


@test
def nk_create_runs_after_handshake(t):
    conn, pub, pid, h = t.nk_setup(HELLO)
    cid = conn.open_channel(t.pb.CLIENT_NK, process_id=pid)
    early = conn.pending(cid, 0.2)
    check(early == [], "server sent %r before handshake message 1" % early)
    peer = ep.NoisePeer("NK", True, rs=ep.public_key(pub))
    conn.send_data(cid, peer.write(h))
    check(peer.read(t.expect_data(conn, cid)) == h, "bad attestation")
    hello = peer.decrypt(t.expect_data(conn, cid))
    check(hello == b"created 2", "HandleChannelCreate output %r, expected b'created 2'" % hello)
    t.echo(conn, cid, peer, b"after create")
    conn.close()


@test
def nk_wrong_pinned_key(t):
    conn, pub, pid, h = t.nk_setup()
    impostor = ep.keypair().public.data
    cid = conn.open_channel(t.pb.CLIENT_NK, process_id=pid)
    peer = ep.NoisePeer("NK", True, rs=ep.public_key(impostor))
    conn.send_data(cid, peer.write(h))
    t.expect_closed(conn, cid, t.pb.PERMISSION_DENIED, "handshake failed")
    # The connection and the process are fine afterwards.
    cid, peer = t.nk_open(conn, pub, h, pid)
    t.echo(conn, cid, peer, b"still here")
    conn.close()


@test
def nk_no_acceptable_hash(t):
    conn, pub, pid, h = t.nk_setup()
    cases = [
        ("one other hash", [os.urandom(32)]),
        ("no hash at all", []),
        ("31 bytes", [h[:31]]),
        ("hash plus a stray byte", [h, b"x"]),
        ("33 hashes including the right one", [os.urandom(32) for _ in range(32)] + [h]),
        ("right hash with a flipped bit", [bytes([h[0] ^ 1]) + h[1:]]),
    ]
    for name, accept in cases:
        cid = conn.open_channel(t.pb.CLIENT_NK, process_id=pid)
        peer = ep.NoisePeer("NK", True, rs=ep.public_key(pub))
        conn.send_data(cid, peer.write(b"".join(accept)))
        try:
            t.expect_closed(conn, cid, t.pb.PERMISSION_DENIED, "handshake failed")
        except Failure as e:
            raise Failure("%s: %s" % (name, e))
    # 32 hashes, the right one last, is the limit and works.
    cid, peer = t.nk_open(conn, pub, h, pid, accept=[os.urandom(32) for _ in range(31)] + [h])
    t.echo(conn, cid, peer, b"32 hashes ok")
    conn.close()


@test
def nk_malformed_message_1(t):
    conn, pub, pid, h = t.nk_setup()
    good = ep.NoisePeer("NK", True, rs=ep.public_key(pub)).write(h)
    cases = [("empty", b""), ("10 bytes", os.urandom(10)), ("ephemeral only", good[:32]),
             ("tag cut short", good[:-1]), ("payload bit flipped", good[:40] + bytes([good[40] ^ 4]) + good[41:]),
             ("ephemeral bit flipped", bytes([good[0] ^ 2]) + good[1:])]
    for name, msg in cases:
        cid = conn.open_channel(t.pb.CLIENT_NK, process_id=pid)
        conn.send_data(cid, msg)
        try:
            t.expect_closed(conn, cid, t.pb.PERMISSION_DENIED, "handshake failed")
        except Failure as e:
            raise Failure("%s: %s" % (name, e))
    conn.close()


@test
def nk_transport_tampering(t):
    conn, pub, pid, h = t.nk_setup()

    def fresh():
        cid, peer = t.nk_open(conn, pub, h, pid, accept=[h, STRICT_MARKER])
        t.echo(conn, cid, peer, b"warm-up")
        return cid, peer

    # A flipped bit in the ciphertext.
    cid, peer = fresh()
    ct = bytearray(peer.encrypt(b"attack at dawn"))
    ct[3] ^= 0x80
    conn.send_data(cid, ct)
    t.expect_closed(conn, cid, t.pb.DATA_LOSS, "decrypt failed")

    # A flipped bit in the tag of the last piece of a multi-piece message.
    cid, peer = fresh()
    ct = bytearray(peer.encrypt(os.urandom(100000)))
    ct[-1] ^= 1
    conn.send_data(cid, ct)
    t.expect_closed(conn, cid, t.pb.DATA_LOSS, "decrypt failed")

    # A replayed message (the nonce has moved on).
    cid, peer = fresh()
    ct = peer.encrypt(b"once")
    conn.send_data(cid, ct)
    check(peer.decrypt(t.expect_data(conn, cid)) == b"once", "echo before replay")
    conn.send_data(cid, ct)
    t.expect_closed(conn, cid, t.pb.DATA_LOSS, "decrypt failed")

    # Shorter than a tag, and an empty ChannelData.
    for name, data in [("15 bytes", os.urandom(15)), ("empty", b"")]:
        cid, peer = fresh()
        conn.send_data(cid, data)
        try:
            t.expect_closed(conn, cid, t.pb.DATA_LOSS, "decrypt failed")
        except Failure as e:
            raise Failure("%s: %s" % (name, e))

    # A message cut at a piece boundary: what is left is whole Noise messages
    # that all authenticate, but its last piece is full, so no sender made it.
    cid, peer = fresh()
    ct = peer.encrypt(os.urandom(2 * ep.CHUNK + 500))
    conn.send_data(cid, ct[:2 * 65535])
    t.expect_closed(conn, cid, t.pb.DATA_LOSS, "decrypt failed")

    # Two short pieces in one ChannelData break the "all full but the last" rule.
    cid, peer = fresh()
    ct = peer.send_cs.encrypt_with_ad(b"", b"a" * 100) + peer.send_cs.encrypt_with_ad(b"", b"b" * 100)
    conn.send_data(cid, ct)
    t.expect_closed(conn, cid, t.pb.DATA_LOSS, "decrypt failed")
    conn.close()


@test
def nk_libsignal_framing_by_default(t):
    """Without the strict marker the server reads libsignal's framing: 65519-
    byte pieces, so k * 65519 bytes end with a full piece and an empty message
    is no piece at all. Its replies stay strict, and a cut at a piece
    boundary (the price of this framing) reads as a shorter message."""
    conn, pub, pid, h = t.nk_setup()
    cid, peer = t.nk_open(conn, pub, h, pid)

    def libsignal(msg):
        return b"".join(peer.send_cs.encrypt_with_ad(b"", msg[i:i + ep.CHUNK])
                        for i in range(0, len(msg), ep.CHUNK))

    for n in [0, 1, ep.CHUNK, ep.CHUNK + 1, 2 * ep.CHUNK]:
        msg = os.urandom(n)
        conn.send_data(cid, libsignal(msg))
        got = peer.decrypt(t.expect_data(conn, cid))
        check(got == msg, "libsignal-framed %d bytes echoed as %d" % (n, len(got)))
    msg = os.urandom(2 * ep.CHUNK + 9)
    conn.send_data(cid, peer.encrypt(msg)[:2 * 65535])
    got = peer.decrypt(t.expect_data(conn, cid))
    check(got == msg[:2 * ep.CHUNK], "cut message read as %d bytes" % len(got))
    conn.close()


@test
def nk_neighbours_unaffected(t):
    conn, pub, pid, h = t.nk_setup()
    conn2 = t.main.connect(t.pb)
    good = [t.nk_open(conn, pub, h, pid) for _ in range(3)]
    far = t.nk_open(conn2, pub, h, pid)
    raw = conn.open_channel(t.pb.RAW, process_id=pid)

    def all_echo(round_):
        for cid, peer in good:
            t.echo(conn, cid, peer, b"neighbour %d %d" % (cid, round_))
        t.echo(conn2, far[0], far[1], b"other connection %d" % round_)
        conn.send_data(raw, b"raw %d" % round_)
        check(t.expect_data(conn, raw) == b"raw %d" % round_, "raw echo")

    all_echo(0)
    # Break one channel mid-transport, fail one handshake, and leave one half-open.
    victim, vpeer = t.nk_open(conn, pub, h, pid)
    bad = bytearray(vpeer.encrypt(b"x" * 50))
    bad[10] ^= 1
    conn.send_data(victim, bad)
    wrong = conn.open_channel(t.pb.CLIENT_NK, process_id=pid)
    conn.send_data(wrong, ep.NoisePeer("NK", True, rs=ep.keypair().public).write(h))
    half = conn.open_channel(t.pb.CLIENT_NK, process_id=pid)
    t.expect_closed(conn, victim, t.pb.DATA_LOSS, "decrypt failed")
    t.expect_closed(conn, wrong, t.pb.PERMISSION_DENIED, "handshake failed")
    all_echo(1)
    conn.send_close(half)
    t.expect_closed(conn, half, t.pb.OK)
    all_echo(2)
    conn2.close()
    conn.close()


@test
def nk_handshake_timeout(t):
    srv = t.start(extra_args=["--handshake-timeout-ms", "300"])
    conn = srv.connect(t.pb)
    t.need_processes(conn)
    pub = conn.get_info().public_key
    pid, h = conn.create_process(ECHO)
    idle = conn.open_channel(t.pb.CLIENT_NK, process_id=pid)
    started = time.monotonic()
    t.expect_closed(conn, idle, t.pb.PERMISSION_DENIED)
    took = time.monotonic() - started
    check(0.2 <= took <= 5, "handshake timeout after %.2f s with a 300 ms setting" % took)
    # KK in both server roles times out the same way when the peer goes quiet.
    kk_init = conn.open_channel(t.pb.SERVER_KK_INITIATOR, process_id=pid)
    check(len(t.expect_data(conn, kk_init)) == 80, "KK message 1 size")
    kk_resp = conn.open_channel(t.pb.SERVER_KK_RESPONDER, process_id=pid)
    t.expect_closed(conn, kk_init, t.pb.PERMISSION_DENIED)
    t.expect_closed(conn, kk_resp, t.pb.PERMISSION_DENIED)
    # A completed handshake is not cut off by the timer.
    cid, peer = t.nk_open(conn, pub, h, pid)
    time.sleep(0.6)
    t.echo(conn, cid, peer, b"outlived the handshake timer")
    # A handshake message sent again after completion is transport garbage.
    conn.send_data(cid, ep.NoisePeer("NK", True, rs=ep.public_key(pub)).write(h))
    t.expect_closed(conn, cid, t.pb.DATA_LOSS, "decrypt failed")
    # This server saw exactly those handshakes: three timed out, one completed.
    st = conn.ok(conn.request(get_stats=t.pb.GetStats()), "GetStats").stats
    check((st.handshakes_ok, st.handshakes_failed) == (1, 3),
          "GetStats handshakes ok/failed = %d/%d, expected 1/3" % (st.handshakes_ok, st.handshakes_failed))
    conn.close()


@test
def nk_many_interleaved_handshakes(t):
    conn, pub, pid, h = t.nk_setup()
    peers = []
    for _ in range(40):
        cid = conn.open_channel(t.pb.CLIENT_NK, process_id=pid)
        peers.append((cid, ep.NoisePeer("NK", True, rs=ep.public_key(pub))))
    for cid, peer in peers:
        conn.send_data(cid, peer.write(h))
    for cid, peer in reversed(peers):
        check(peer.read(t.expect_data(conn, cid)) == h, "attestation on channel %d" % cid)
    for cid, peer in peers:
        conn.send_data(cid, peer.encrypt(b"channel %d" % cid))
    for cid, peer in peers:
        check(peer.decrypt(t.expect_data(conn, cid)) == b"channel %d" % cid, "crossed channels")
    conn.close()


@test
def nk_max_message(t):
    conn, pub, pid, h = t.nk_setup()
    limit = conn.get_info().limits.max_message
    check(limit > 0, "GetInfo reports no max_message")
    cid, peer = t.nk_open(conn, pub, h, pid)
    t.echo(conn, cid, peer, os.urandom(limit))
    # One byte more is refused by closing the channel, not by hanging or by
    # dropping the connection.
    conn.send_data(cid, peer.encrypt(os.urandom(limit + 1)))
    t.expect_closed(conn, cid, t.pb.RESOURCE_EXHAUSTED)
    check(conn.request(ping=t.pb.Ping()).status == t.pb.OK, "connection unusable afterwards")
    conn.close()


# Every channel it knows hears every message, each under its own Noise keys.
BROADCAST = (b"local chans = {}\n"
             b"function HandleChannelCreate(cid, t) chans[cid] = true end\n"
             b"function HandleChannelClose(cid) chans[cid] = nil end\n"
             b"function HandleChannelMessage(cid, msg)\n"
             b"  if msg == 'bye' then return {{cid, 'goodbye'}, {cid, STATUS_FAILED_PRECONDITION}} end\n"
             b"  local out = {}\n"
             b"  for c in pairs(chans) do out[#out + 1] = {c, msg} end\n"
             b"  return out\n"
             b"end\n")


@test
def nk_outputs_to_other_channels(t):
    conn, pub, pid, h = t.nk_setup(BROADCAST)
    conn2 = t.main.connect(t.pb)
    a = t.nk_open(conn, pub, h, pid)
    b = t.nk_open(conn2, pub, h, pid)
    raw = conn2.open_channel(t.pb.RAW, process_id=pid)
    # A channel mid-handshake is not in the app's table and must get nothing.
    pending = conn.open_channel(t.pb.CLIENT_NK, process_id=pid)
    conn.send_data(a[0], a[1].encrypt(b"to all"))
    check(a[1].decrypt(t.expect_data(conn, a[0])) == b"to all", "sender's copy")
    check(b[1].decrypt(t.expect_data(conn2, b[0])) == b"to all", "other connection's copy")
    check(t.expect_data(conn2, raw) == b"to all", "raw channel's copy")
    conn2.send_data(raw, b"from raw")
    check(a[1].decrypt(t.expect_data(conn, a[0])) == b"from raw", "raw to NK a")
    check(b[1].decrypt(t.expect_data(conn2, b[0])) == b"from raw", "raw to NK b")
    check(t.expect_data(conn2, raw) == b"from raw", "raw to itself")
    check(conn.pending(pending, 0.1) == [], "half-open NK channel received output")
    # Lua closes a Noise channel after one last (encrypted) message.
    conn.send_data(a[0], a[1].encrypt(b"bye"))
    check(a[1].decrypt(t.expect_data(conn, a[0])) == b"goodbye", "last message before a Lua close")
    t.expect_closed(conn, a[0], t.pb.FAILED_PRECONDITION)
    # Data for a closed channel: no second ChannelClosed, connection fine.
    conn.send_data(a[0], a[1].encrypt(b"late"))
    check(conn.request(ping=t.pb.Ping()).status == t.pb.OK, "ping after late data")
    late = conn.pending(a[0], 0.1)
    check(late == [], "closed channel produced %r" % late)
    # Destroying the process closes the rest with UNAVAILABLE, exactly once each.
    conn.ok(conn.request(process_destroy=t.pb.ProcessDestroy(process_id=pid)), "ProcessDestroy")
    t.expect_closed(conn, pending, t.pb.UNAVAILABLE)
    t.expect_closed(conn2, b[0], t.pb.UNAVAILABLE)
    t.expect_closed(conn2, raw, t.pb.UNAVAILABLE)
    check(conn2.request(ping=t.pb.Ping()).status == t.pb.OK, "ping after destroy")
    for c, cid in [(conn, pending), (conn2, b[0]), (conn2, raw)]:
        check(c.pending(cid, 0.05) == [], "second event after UNAVAILABLE on %d" % cid)
    conn2.close()
    conn.close()


@test
def nk_create_hook_error(t):
    """HandleChannelCreate raising after a good handshake: the client gets
    message 2 (the handshake did complete), then INTERNAL; nothing else."""
    src = b"function HandleChannelCreate(cid, t) error('no thanks') end\n" + ECHO
    conn, pub, pid, h = t.nk_setup(src)
    cid = conn.open_channel(t.pb.CLIENT_NK, process_id=pid)
    peer = ep.NoisePeer("NK", True, rs=ep.public_key(pub))
    conn.send_data(cid, peer.write(h))
    check(peer.read(t.expect_data(conn, cid)) == h, "attestation")
    kind, val = conn.next_event(cid)
    check(kind == "closed", "expected ChannelClosed after a failing HandleChannelCreate")
    check(val[0] == t.pb.INTERNAL and "no thanks" in val[1],
          "ChannelClosed %s %r, expected INTERNAL with the Lua error" % (t.pb.Status.Name(val[0]), val[1]))
    conn.close()


@test
def kk_outsider_refused(t):
    """Needs no known key: a peer without the server's static key is refused
    in both KK roles."""
    srv = t.main_server()
    conn = srv.connect(t.pb)
    t.need_processes(conn)
    pub = ep.public_key(conn.get_info().public_key)
    pid, h = conn.create_process(ECHO)
    outsider = ep.keypair()
    cid = conn.open_channel(t.pb.SERVER_KK_RESPONDER, process_id=pid)
    conn.send_data(cid, ep.NoisePeer("KK", True, s=outsider, rs=pub).write(h))
    t.expect_closed(conn, cid, t.pb.PERMISSION_DENIED, "handshake failed")
    cid = conn.open_channel(t.pb.SERVER_KK_INITIATOR, process_id=pid)
    msg1 = t.expect_data(conn, cid)
    check(len(msg1) == 80, "KK message 1 is %d bytes, expected 80" % len(msg1))
    try:
        ep.NoisePeer("KK", False, s=outsider, rs=pub).read(msg1)
        raise Failure("an outsider decrypted KK message 1")
    except ep.HandshakeFailed:
        pass
    conn.send_data(cid, ep.keypair().public.data + os.urandom(48))
    t.expect_closed(conn, cid, t.pb.PERMISSION_DENIED, "handshake failed")
    conn.close()


# -- KK: the test is a peer enclave holding the fleet key.

def kk_setup(t, source=ECHO):
    srv = t.fleet_server()
    conn = srv.connect(t.pb)
    t.need_processes(conn)
    pub = conn.get_info().public_key
    check(pub == t.fleet_key.public.data,
          "GetInfo key %s is not the public half of keys/noise_static.key (%s)"
          % (pub.hex(), t.fleet_key.public.data.hex()))
    pid, h = conn.create_process(source)
    return conn, pid, h


def kk_as_responder(t, conn, pid, h, s=None, payload=None):
    """Server is SERVER_KK_INITIATOR; returns (cid, peer, attested) after reading
    message 1 and sending message 2."""
    cid = conn.open_channel(t.pb.SERVER_KK_INITIATOR, process_id=pid)
    msg1 = t.expect_data(conn, cid)
    check(len(msg1) == 32 + 32 + 16, "KK message 1 is %d bytes, expected 80" % len(msg1))
    peer = ep.NoisePeer("KK", False, s=s or t.fleet_key, rs=t.fleet_key.public)
    attested = peer.read(msg1)
    conn.send_data(cid, peer.write(h if payload is None else payload))
    return cid, peer, attested


def kk_as_initiator(t, conn, pid, h, s=None, rs=None, payload=None):
    cid = conn.open_channel(t.pb.SERVER_KK_RESPONDER, process_id=pid)
    peer = ep.NoisePeer("KK", True, s=s or t.fleet_key, rs=rs or t.fleet_key.public)
    conn.send_data(cid, peer.write(h if payload is None else payload))
    return cid, peer


@test
def kk_peer_as_responder(t):
    conn, pid, h = kk_setup(t, HELLO)
    cid, peer, attested = kk_as_responder(t, conn, pid, h)
    check(attested == h, "KK message 1 attests %s, expected %s" % (short(attested), short(h)))
    check(peer.done, "handshake not complete after message 2")
    hello = peer.decrypt(t.expect_data(conn, cid))
    check(hello == b"created 3", "HandleChannelCreate output %r, expected b'created 3'" % hello)
    for n in [0, 1, 1000, ep.CHUNK, ep.CHUNK + 1, 200 * 1024, 0]:
        t.echo(conn, cid, peer, os.urandom(n))
    conn.send_close(cid)
    t.expect_closed(conn, cid, t.pb.OK)
    conn.close()


@test
def kk_peer_as_initiator(t):
    conn, pid, h = kk_setup(t, HELLO)
    cid, peer = kk_as_initiator(t, conn, pid, h)
    msg2 = t.expect_data(conn, cid)
    check(len(msg2) == 32 + 32 + 16, "KK message 2 is %d bytes, expected 80" % len(msg2))
    attested = peer.read(msg2)
    check(attested == h, "KK message 2 attests %s, expected %s" % (short(attested), short(h)))
    hello = peer.decrypt(t.expect_data(conn, cid))
    check(hello == b"created 3", "HandleChannelCreate output %r, expected b'created 3'" % hello)
    for n in [0, 1, 1000, ep.CHUNK, ep.CHUNK + 1, 200 * 1024, 0]:
        t.echo(conn, cid, peer, os.urandom(n))
    conn.close()


@test
def kk_wrong_code_hash(t):
    conn, pid, h = kk_setup(t)
    other = ep.sha256(b"-- some other app\n" + ECHO)
    # Initiator peer claiming other code.
    cid, _ = kk_as_initiator(t, conn, pid, h, payload=other)
    t.expect_closed(conn, cid, t.pb.PERMISSION_DENIED, "handshake failed")
    # Responder peer claiming other code (message 1 itself was fine).
    cid, _, attested = kk_as_responder(t, conn, pid, h, payload=other)
    check(attested == h, "message 1 attestation")
    t.expect_closed(conn, cid, t.pb.PERMISSION_DENIED, "handshake failed")
    # Empty and doubled payloads.
    for name, payload in [("empty", b""), ("hash twice", h + h)]:
        cid, _ = kk_as_initiator(t, conn, pid, h, payload=payload)
        try:
            t.expect_closed(conn, cid, t.pb.PERMISSION_DENIED, "handshake failed")
        except Failure as e:
            raise Failure("initiator payload %s: %s" % (name, e))
    # The process still serves a proper peer.
    cid, peer = kk_as_initiator(t, conn, pid, h)
    check(peer.read(t.expect_data(conn, cid)) == h, "attestation after failures")
    t.echo(conn, cid, peer, b"ok")
    conn.close()


@test
def kk_wrong_static_key(t):
    conn, pid, h = kk_setup(t)
    outsider = ep.keypair()
    # Initiator with another static key (it knows the fleet public key).
    cid, _ = kk_as_initiator(t, conn, pid, h, s=outsider)
    t.expect_closed(conn, cid, t.pb.PERMISSION_DENIED, "handshake failed")
    # Initiator with the fleet key but expecting another responder key.
    cid, _ = kk_as_initiator(t, conn, pid, h, rs=outsider.public)
    t.expect_closed(conn, cid, t.pb.PERMISSION_DENIED, "handshake failed")
    # Responder with another static key cannot even read message 1 ...
    cid = conn.open_channel(t.pb.SERVER_KK_INITIATOR, process_id=pid)
    msg1 = t.expect_data(conn, cid)
    impostor = ep.NoisePeer("KK", False, s=outsider, rs=t.fleet_key.public)
    try:
        impostor.read(msg1)
        raise Failure("a responder without the fleet key decrypted KK message 1")
    except ep.HandshakeFailed:
        pass
    # ... and whatever it answers, here a well-sized guess, is refused.
    forged = ep.keypair().public.data + os.urandom(48)
    conn.send_data(cid, forged)
    t.expect_closed(conn, cid, t.pb.PERMISSION_DENIED, "handshake failed")
    # A genuine message 2 with a flipped bit.
    cid = conn.open_channel(t.pb.SERVER_KK_INITIATOR, process_id=pid)
    peer = ep.NoisePeer("KK", False, s=t.fleet_key, rs=t.fleet_key.public)
    check(peer.read(t.expect_data(conn, cid)) == h, "attestation")
    msg2 = bytearray(peer.write(h))
    msg2[-5] ^= 0x10
    conn.send_data(cid, msg2)
    t.expect_closed(conn, cid, t.pb.PERMISSION_DENIED, "handshake failed")
    conn.close()


@test
def kk_transport_tampering(t):
    conn, pid, h = kk_setup(t)
    cid, peer = kk_as_initiator(t, conn, pid, h)
    check(peer.read(t.expect_data(conn, cid)) == h, "attestation")
    t.echo(conn, cid, peer, b"fine")
    ct = bytearray(peer.encrypt(b"tampered"))
    ct[0] ^= 1
    conn.send_data(cid, ct)
    t.expect_closed(conn, cid, t.pb.DATA_LOSS, "decrypt failed")
    conn.close()


# Announces itself to the peer, acknowledges announcements, ignores acks.
PEER_APP = (b"function HandleChannelCreate(cid, t) return {{cid, 'created ' .. t}} end\n"
            b"function HandleChannelMessage(cid, msg)\n"
            b"  if msg:sub(1, 7) == 'created' then return {{cid, 'ack ' .. msg}} end\n"
            b"end\n")


@test
def kk_fleet_relay(t):
    """Two servers booted from the same image talk KK to each other through
    the test, which relays opaque bytes: the server's initiator and responder
    agree, and the test (without their ephemerals) sees only ciphertext."""
    a_srv = t.fleet_server()
    b_srv = t.start(userdata=t.fleet_image)
    a, b = a_srv.connect(t.pb), b_srv.connect(t.pb)
    t.need_processes(a)
    check(a.get_info().public_key == b.get_info().public_key, "fleet members differ in public key")
    a_pid, h = a.create_process(PEER_APP)
    b_pid, h2 = b.create_process(PEER_APP)
    check(h == h2, "same source, different code hash")
    a_cid = a.open_channel(t.pb.SERVER_KK_INITIATOR, process_id=a_pid)
    b_cid = b.open_channel(t.pb.SERVER_KK_RESPONDER, process_id=b_pid)
    msg1 = t.expect_data(a, a_cid)
    b.send_data(b_cid, msg1)
    msg2 = t.expect_data(b, b_cid)
    check(len(msg2) == 80, "KK message 2 is %d bytes" % len(msg2))
    a.send_data(a_cid, msg2)
    # Each side's HandleChannelCreate output ("created 3", 9 bytes), encrypted.
    hello_a, hello_b = t.expect_data(a, a_cid), t.expect_data(b, b_cid)
    check(len(hello_a) == len(hello_b) == 9 + 16, "create outputs are %d and %d bytes"
          % (len(hello_a), len(hello_b)))
    check(b"created" not in hello_a + hello_b, "plaintext on the wire")
    b.send_data(b_cid, hello_a)
    a.send_data(a_cid, hello_b)
    ack_b, ack_a = t.expect_data(b, b_cid), t.expect_data(a, a_cid)
    check(len(ack_a) == len(ack_b) == 13 + 16, "acks are %d and %d bytes" % (len(ack_a), len(ack_b)))
    a.send_data(a_cid, ack_b)
    b.send_data(b_cid, ack_a)
    check(a.pending(a_cid, 0.1) == [] and b.pending(b_cid, 0.1) == [], "unexpected traffic after acks")
    # A message relayed twice is a replay to the receiver.
    b.send_data(b_cid, hello_a)
    t.expect_closed(b, b_cid, t.pb.DATA_LOSS, "decrypt failed")
    a.close()
    b.close()


# ---------------------------------------------------------------- runner

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", required=True, help="path to build/server/enclaved")
    ap.add_argument("--io", default=os.environ.get("ENCLAVED_IO", "uv"), choices=["uv", "poll"])
    ap.add_argument("--proto", required=True, help="path to proto/enclaved.proto")
    ap.add_argument("--source-root", help="project root, for scripts/mkuserdata (default: from --proto)")
    ap.add_argument("--vectors", help="Noise NK/KK test vectors (JSON) to check the peer against")
    ap.add_argument("-k", dest="only", help="run only tests whose name contains this")
    ap.add_argument("-v", dest="verbose", action="store_true", help="print server logs of failures")
    args = ap.parse_args()
    if args.source_root is None:
        args.source_root = os.path.dirname(os.path.dirname(os.path.abspath(args.proto)))

    workdir = tempfile.mkdtemp(prefix="enclaved-interop-")
    passed = failed = skipped = 0
    try:
        pb = ep.build_bindings(args.proto, workdir)
        suite = Suite(args, pb, workdir)
        for fn in TESTS:
            name = fn.__name__
            if args.only and args.only not in name:
                continue
            started = time.monotonic()
            try:
                fn(suite)
            except Skip as e:
                skipped += 1
                print("SKIP %s: %s" % (name, e), flush=True)
                continue
            except Exception as e:  # one test's failure must not stop the others
                failed += 1
                print("FAIL %s: %s: %s" % (name, type(e).__name__, e), flush=True)
                if args.verbose or not isinstance(e, Failure):
                    traceback.print_exc(limit=4)
                continue
            passed += 1
            print("ok   %s (%.2f s)" % (name, time.monotonic() - started), flush=True)
        # Every server we started must still be alive and stop cleanly.
        for srv in suite.servers:
            alive = srv.proc.poll() is None
            problem = srv.stop()
            if not alive or problem:
                failed += 1
                print("FAIL server %s: %s" % (" ".join(srv.args[1:]),
                                              "died during the run" if not alive else problem))
                sys.stdout.write(srv.read_log().decode(errors="replace")[-4000:])
            elif args.verbose:
                sys.stdout.write(srv.read_log().decode(errors="replace")[-2000:])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if skipped:
        print("interop: %d skipped" % skipped)
    print("interop: %d passed, %d failed" % (passed, failed))
    if failed:
        return 1
    return 77 if passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
