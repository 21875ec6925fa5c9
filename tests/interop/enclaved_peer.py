# SPDX-License-Identifier: AGPL-3.0-or-later
"""Test-only support for the interop suites: an independent peer for enclaved.

Nothing here shares code with the server or its C client library. The wire
bindings are generated from proto/enclaved.proto with protoc at run time,
and Noise is Debian's python3-dissononce. Run with /usr/bin/python3 (Debian's
modules are not on other interpreters' paths).

  build_bindings(proto, outdir)   protoc --python_out, returns the pb2 module
  Server                          spawns build/server/enclaved, reads its port
  Connection                      frames, requests, per-channel inboxes
  NoisePeer                       NK/KK handshake + chunked transport (DESIGN §6)
  write_newc                      a newc CPIO writer for userdata images
"""

import collections
import hashlib
import importlib
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

from dissononce.cipher.chachapoly import ChaChaPolyCipher
from dissononce.dh.x25519.private import PrivateKey
from dissononce.extras.dh.dangerous.dh_nogen import NoGenDH
from dissononce.dh.x25519.public import PublicKey
from dissononce.dh.x25519.x25519 import X25519DH
from dissononce.hash.sha256 import SHA256Hash
from dissononce.processing.handshakepatterns.interactive.KK import KKHandshakePattern
from dissononce.processing.handshakepatterns.interactive.NK import NKHandshakePattern
from dissononce.processing.impl.cipherstate import CipherState
from dissononce.processing.impl.handshakestate import HandshakeState
from dissononce.processing.impl.symmetricstate import SymmetricState

NOISE_MAX = 65535           # largest Noise message (rev 34 §3)
TAG = 16                    # ChaChaPoly tag
CHUNK = NOISE_MAX - TAG     # plaintext bytes per full transport message
READY = re.compile(rb"enclaved: listening on ([0-9.]+):([0-9]+)\n")


def build_bindings(proto_path, outdir):
    """Compiles proto_path with protoc into outdir and imports the module."""
    proto_path = os.path.abspath(proto_path)
    subprocess.run(["protoc", "--proto_path=" + os.path.dirname(proto_path),
                    "--python_out=" + outdir, os.path.basename(proto_path)],
                   check=True)
    sys.path.insert(0, outdir)
    name = os.path.splitext(os.path.basename(proto_path))[0] + "_pb2"
    return importlib.import_module(name)


# ---------------------------------------------------------------- server process

class Server:
    """The real enclaved on 127.0.0.1:0 with the chosen I/O driver."""

    def __init__(self, binary, io, workdir, extra_args=(), userdata=None):
        self.log_path = os.path.join(workdir, "server-%d.log" % id(self))
        # scripts/cross-ppc runs the suite against the ppc server under qemu.
        binary = os.environ.get("ENCLAVED_TEST_SERVER") or binary
        args = [binary, "--listen", "127.0.0.1:0", "--io", io]
        args += ["--userdata", userdata] if userdata else ["--ephemeral-keys"]
        args += list(extra_args)
        self.args = args
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        self.port = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            m = READY.search(self.read_log())
            if m:
                self.port = int(m.group(2))
                return
            if self.proc.poll() is not None:
                raise RuntimeError("enclaved exited with %d before it was ready:\n%s"
                                   % (self.proc.returncode, self.read_log().decode(errors="replace")))
            time.sleep(0.01)
        self.proc.kill()
        self.proc.wait()
        raise RuntimeError("enclaved printed no ready line in 10 s")

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read()

    def connect(self, pb):
        return Connection(pb, self.port)

    def stop(self):
        """SIGTERM and wait; returns None on a clean exit, else a description."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return "did not exit within 10 s of SIGTERM"
        self.log.close()
        if self.proc.returncode != 0:
            return "exited with status %d" % self.proc.returncode
        return None


# ---------------------------------------------------------------- wire

class ProtocolError(Exception):
    pass


class Connection:
    """One TCP connection. Frames that are not what a caller waits for are
    queued: responses by id, channel frames per channel id, in arrival order."""

    def __init__(self, pb, port, timeout=10.0):
        self.pb = pb
        self.timeout = timeout
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.next_id = 1
        self.responses = {}
        self.channels = collections.defaultdict(collections.deque)
        self.eof = False

    def close(self):
        self.sock.close()

    # -- sending
    def send_frame(self, frame):
        body = frame.SerializeToString()
        self.sock.sendall(struct.pack(">I", len(body)) + body)

    def send_data(self, cid, data):
        f = self.pb.ClientFrame()
        f.channel_data.channel_id = cid
        f.channel_data.data = bytes(data)
        self.send_frame(f)

    def send_close(self, cid):
        f = self.pb.ClientFrame()
        f.channel_close.channel_id = cid
        self.send_frame(f)

    # -- receiving
    def _read_frame(self, deadline):
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    body = bytes(self.buf[4:4 + n])
                    del self.buf[:4 + n]
                    f = self.pb.ServerFrame()
                    f.ParseFromString(body)
                    return f
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame from the server in time")
            self.sock.settimeout(left)
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                self.eof = True
                raise ProtocolError("server closed the connection")
            self.buf += chunk

    def _pump(self, deadline):
        f = self._read_frame(deadline)
        kind = f.WhichOneof("kind")
        if kind == "response":
            if f.response.id in self.responses:
                raise ProtocolError("second response for id %d" % f.response.id)
            self.responses[f.response.id] = f.response
        elif kind == "channel_data":
            self.channels[f.channel_data.channel_id].append(("data", f.channel_data.data))
        elif kind == "channel_closed":
            c = f.channel_closed
            self.channels[c.channel_id].append(("closed", (c.status, c.reason)))
        else:
            raise ProtocolError("server frame with no kind")

    def request(self, **body):
        """Sends a Request with one body field and returns its Response."""
        rid = self.next_id
        self.next_id += 1
        f = self.pb.ClientFrame()
        f.request.id = rid
        ((field, value),) = body.items()
        getattr(f.request, field).CopyFrom(value)
        self.send_frame(f)
        deadline = time.monotonic() + self.timeout
        while rid not in self.responses:
            self._pump(deadline)
        return self.responses.pop(rid)

    def next_event(self, cid, timeout=None):
        """The next ("data", bytes) or ("closed", (status, reason)) on cid."""
        deadline = time.monotonic() + (timeout or self.timeout)
        q = self.channels[cid]
        while not q:
            self._pump(deadline)
        return q.popleft()

    def pending(self, cid, wait=0.2):
        """Whatever arrives for cid within `wait` seconds, without blocking longer."""
        deadline = time.monotonic() + wait
        try:
            while True:
                self._pump(deadline)
        except TimeoutError:
            pass
        out = list(self.channels[cid])
        self.channels[cid].clear()
        return out

    # -- requests used by the suites
    def ok(self, resp, what):
        if resp.status != self.pb.OK:
            raise ProtocolError("%s: %s %s" % (what, self.pb.Status.Name(resp.status), resp.message))
        return resp

    def get_info(self):
        return self.ok(self.request(get_info=self.pb.GetInfo()), "GetInfo").info

    def create_process(self, source, name="interop"):
        body = self.pb.ProcessCreate(lua_source=source, name=name)
        r = self.ok(self.request(process_create=body), "ProcessCreate").process_created
        return r.process_id, r.code_hash

    def open_channel(self, ctype, process_id=None, code_hash=None):
        body = self.pb.ChannelOpen(type=ctype)
        if code_hash is not None:
            body.code_hash = code_hash
        else:
            body.process_id = process_id
        return self.ok(self.request(channel_open=body), "ChannelOpen").channel_opened.channel_id


# ---------------------------------------------------------------- noise

DH = X25519DH()


def keypair(private=None):
    """An X25519 key pair; from 32 given private bytes or fresh."""
    return DH.generate_keypair(PrivateKey(private) if private is not None else None)


def public_key(raw):
    return PublicKey(bytes(raw))


class HandshakeFailed(Exception):
    pass


class NoisePeer:
    """One side of a Noise_{NK,KK}_25519_ChaChaPoly_SHA256 session with an empty
    prologue, and the enclaved transport framing on top of it."""

    def __init__(self, pattern, initiator, s=None, rs=None, e_private=None, prologue=b""):
        """e_private and prologue exist only to replay published test vectors;
        enclaved uses fresh ephemerals and an empty prologue."""
        cipher = CipherState(ChaChaPolyCipher())
        dh = X25519DH() if e_private is None else NoGenDH(X25519DH(), PrivateKey(e_private))
        self.hs = HandshakeState(SymmetricState(cipher, SHA256Hash()), dh)
        pat = {"NK": NKHandshakePattern, "KK": KKHandshakePattern}[pattern]()
        self.hs.initialize(pat, initiator, prologue, s=s, rs=rs)
        self.initiator = initiator
        self.send_cs = None
        self.recv_cs = None

    def _split(self, pair):
        if pair is not None:
            a, b = pair
            self.send_cs, self.recv_cs = (a, b) if self.initiator else (b, a)

    def write(self, payload):
        buf = bytearray()
        self._split(self.hs.write_message(bytes(payload), buf))
        return bytes(buf)

    def read(self, message):
        out = bytearray()
        try:
            self._split(self.hs.read_message(bytes(message), out))
        except Exception as e:  # dissononce raises DecryptFailedException
            raise HandshakeFailed("%s: %s" % (type(e).__name__, e)) from e
        return bytes(out)

    @property
    def handshake_hash(self):
        return self.hs.symmetricstate.get_handshake_hash()

    @property
    def done(self):
        return self.send_cs is not None

    def encrypt(self, plaintext):
        """One application message: full 65535-byte Noise messages, then a last
        one that is never full (empty when the plaintext fills whole pieces, so
        an empty plaintext is one 16-byte message)."""
        plaintext = bytes(plaintext)
        pieces = [plaintext[i:i + CHUNK] for i in range(0, len(plaintext), CHUNK)]
        if len(plaintext) % CHUNK == 0:
            pieces.append(b"")
        return b"".join(self.send_cs.encrypt_with_ad(b"", p) for p in pieces)

    def decrypt(self, ciphertext):
        ciphertext = bytes(ciphertext)
        if not ciphertext:
            raise ValueError("empty transport data")
        if len(ciphertext) % NOISE_MAX == 0:
            raise ValueError("last transport piece is full: message cut at a piece boundary")
        out = []
        for i in range(0, len(ciphertext), NOISE_MAX):
            piece = ciphertext[i:i + NOISE_MAX]
            if len(piece) < TAG:
                raise ValueError("transport piece shorter than a tag")
            out.append(self.recv_cs.decrypt_with_ad(b"", piece))
        return b"".join(out)


def sha256(data):
    return hashlib.sha256(data).digest()


# ---------------------------------------------------------------- userdata images

def write_newc(path, files):
    """Writes an ASCII newc CPIO ("070701") with the given {name: bytes} regular
    files (directories implied by names are added first), then the trailer."""
    dirs = set()
    for name in files:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    entries = [(d, 0o040755, b"") for d in sorted(dirs)]
    entries += [(n, 0o100600 if n.startswith("keys/") else 0o100644, files[n]) for n in sorted(files)]
    entries.append(("TRAILER!!!", 0, b""))
    out = bytearray()
    for ino, (name, mode, data) in enumerate(entries, start=1):
        bname = name.encode() + b"\0"
        fields = [ino if name != "TRAILER!!!" else 0, mode, 0, 0, 2 if mode & 0o040000 else 1, 0,
                  len(data), 0, 0, 0, 0, len(bname), 0]
        out += b"070701" + b"".join(b"%08X" % v for v in fields) + bname
        out += b"\0" * (-len(out) % 4)
        out += data
        out += b"\0" * (-len(out) % 4)
    out += b"\0" * (-len(out) % 512)
    with open(path, "wb") as f:
        f.write(out)


def make_userdata(workdir, static_private, sealing_secret, source_root=None, apps=None):
    """A userdata image holding the given keys (and optional apps/*.lua).
    Uses the project's scripts/mkuserdata when the tree has it, else write_newc."""
    files = {"keys/noise_static.key": static_private, "keys/sealing_secret.key": sealing_secret}
    for name, src in (apps or {}).items():
        files["apps/" + name] = src
    image = os.path.join(workdir, "userdata-%s.cpio" % static_private[:4].hex())
    tool = os.path.join(source_root, "scripts", "mkuserdata") if source_root else None
    if tool and os.access(tool, os.X_OK):
        tree = tempfile.mkdtemp(dir=workdir)
        for name, data in files.items():
            p = os.path.join(tree, name)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)
        subprocess.run([tool, tree, image], check=True, stdout=subprocess.DEVNULL)
    else:
        write_newc(image, files)
    return image
