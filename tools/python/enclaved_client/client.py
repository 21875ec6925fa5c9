# SPDX-License-Identifier: AGPL-3.0-or-later
"""The connection, the channels and key pinning. See the package docstring."""

import collections
import hashlib
import os
import socket
import struct
import time

from dissononce.cipher.chachapoly import ChaChaPolyCipher
from dissononce.dh.x25519.public import PublicKey
from dissononce.dh.x25519.x25519 import X25519DH
from dissononce.hash.sha256 import SHA256Hash
from dissononce.processing.handshakepatterns.interactive.NK import NKHandshakePattern
from dissononce.processing.impl.cipherstate import CipherState
from dissononce.processing.impl.handshakestate import HandshakeState
from dissononce.processing.impl.symmetricstate import SymmetricState

import enclaved_pb2 as pb

NOISE_MAX = 65535           # largest Noise message (Noise rev 34 §3)
TAG = 16                    # ChaChaPoly tag
CHUNK = NOISE_MAX - TAG     # plaintext bytes in a full transport message
KEY_LEN = 32
HASH_LEN = 32
MAX_ACCEPTED = 31           # NK message 1: 1..31 code hashes, then the strict marker
# Asks the server for strict framing (README "Cryptography"): the last code
# hash of message 1 is SHA-256 of this domain, inside the encryption.
STRICT_MARKER = hashlib.sha256(b"enclaved-noise-strict-framing-v1").digest()
MAX_FRAME = 64 << 20        # refuse larger frames from the server


class StatusError(Exception):
    """A Response with an error status."""

    def __init__(self, status, message):
        super().__init__("%s (%d): %s" % (pb.Status.Name(status), status, message))
        self.status = status
        self.message = message


class ChannelClosed(Exception):
    """The server closed the channel; status OK means the app closed it cleanly."""

    def __init__(self, channel_id, status, reason):
        super().__init__("channel %d closed: %s (%d) %s"
                         % (channel_id, pb.Status.Name(status), status, reason))
        self.channel_id = channel_id
        self.status = status
        self.reason = reason


class HandshakeError(Exception):
    """The NK handshake failed (the server refused it, or its answer did not decrypt)."""


class PinMismatch(HandshakeError):
    """The server presents another static key than the pinned one."""


class AttestationError(HandshakeError):
    """The server attested a code hash that is not among the accepted ones."""


def fingerprint(key):
    """The short fingerprint enclavectl and the keygens print: xxxx-xxxx-xxxx-xxxx-xxxx."""
    h = hashlib.sha256(bytes(key)).hexdigest()[:20]
    return "-".join(h[i:i + 4] for i in range(0, 20, 4))


class KnownServers:
    """The known-servers file enclavectl uses: one "HOST:PORT HEX" line per
    server, '#' comments. Same format, same default path."""

    def __init__(self, path=None):
        if path is None:
            base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(
                os.path.expanduser("~"), ".config")
            path = os.path.join(base, "enclaved", "known_servers")
        self.path = os.path.expanduser(path)

    @staticmethod
    def name(host, port):
        return "%s:%d" % ("127.0.0.1" if host == "localhost" else host, port)

    def lookup(self, host, port):
        """The pinned key (bytes) and its 1-based line, or (None, None)."""
        want = self.name(host, port)
        try:
            with open(self.path, "r", encoding="ascii") as f:
                lines = f.read().split("\n")
        except FileNotFoundError:
            return None, None
        for number, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) != 2 or len(fields[1]) != 2 * KEY_LEN:
                raise ValueError("%s: malformed line %d" % (self.path, number))
            key = bytes.fromhex(fields[1])
            if fields[0] == want:
                return key, number
        return None, None

    def add(self, host, port, key):
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="ascii") as f:
            f.write("%s %s\n" % (self.name(host, port), bytes(key).hex()))


class Client:
    """One TCP connection to enclaved. Frames that are not what a caller waits
    for are queued: responses by request id, channel frames per channel id."""

    def __init__(self, host="127.0.0.1", port=7480, timeout=5.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = bytearray()
        self._next_id = 1
        self._responses = {}
        self._events = collections.defaultdict(collections.deque)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- frames
    def _send(self, frame):
        body = frame.SerializeToString()
        self.sock.sendall(struct.pack(">I", len(body)) + body)

    def _read_frame(self, deadline):
        while True:
            if len(self._buf) >= 4:
                n = struct.unpack(">I", self._buf[:4])[0]
                if n == 0 or n > MAX_FRAME:
                    raise ConnectionError("bad frame length %d from the server" % n)
                if len(self._buf) >= 4 + n:
                    f = pb.ServerFrame()
                    f.ParseFromString(bytes(self._buf[4:4 + n]))
                    del self._buf[:4 + n]
                    return f
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from the server in time")
            self.sock.settimeout(left)
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self._buf += chunk

    def _pump(self, deadline):
        f = self._read_frame(deadline)
        kind = f.WhichOneof("kind")
        if kind == "response":
            self._responses[f.response.id] = f.response
        elif kind == "channel_data":
            self._events[f.channel_data.channel_id].append(("data", f.channel_data.data))
        elif kind == "channel_closed":
            c = f.channel_closed
            self._events[c.channel_id].append(("closed", (c.status, c.reason)))

    # -- requests
    def send_request(self, **body):
        """Sends a Request with one body field (send_request(ping=pb.Ping()))
        and returns its id; wait_response(id) collects the answer, in any order."""
        rid = self._next_id
        self._next_id += 1
        f = pb.ClientFrame()
        f.request.id = rid
        ((field, value),) = body.items()
        getattr(f.request, field).CopyFrom(value)
        self._send(f)
        return rid

    def wait_response(self, rid, check=True):
        """The Response to request rid; raises StatusError for an error status
        unless check is False."""
        deadline = time.monotonic() + self.timeout
        while rid not in self._responses:
            self._pump(deadline)
        r = self._responses.pop(rid)
        if check and r.status != pb.OK:
            raise StatusError(r.status, r.message or pb.Status.Name(r.status))
        return r

    def request(self, **body):
        return self.wait_response(self.send_request(**body))

    def ping(self):
        self.request(ping=pb.Ping())

    def info(self):
        return self.request(get_info=pb.GetInfo()).info

    def stats(self):
        return self.request(get_stats=pb.GetStats()).stats

    def create_process(self, source, name="app", memory_limit=0):
        """Starts a process; returns (process_id, code_hash)."""
        r = self.request(process_create=pb.ProcessCreate(
            lua_source=bytes(source), name=name, memory_limit=memory_limit)).process_created
        return r.process_id, r.code_hash

    def list_processes(self):
        return list(self.request(process_list=pb.ProcessList()).process_list.processes)

    def destroy_process(self, process_id=None, code_hash=None):
        body = pb.ProcessDestroy()
        if code_hash is not None:
            body.code_hash = bytes(code_hash)
        else:
            body.process_id = process_id
        return self.request(process_destroy=body).process_destroyed.process_id

    # -- channels
    def _open(self, ctype, process_id, code_hash):
        if (process_id is None) == (code_hash is None):
            raise ValueError("give process_id or code_hash")
        body = pb.ChannelOpen(type=ctype)
        if code_hash is not None:
            body.code_hash = bytes(code_hash)
        else:
            body.process_id = process_id
        return self.request(channel_open=body).channel_opened.channel_id

    def _next_event(self, cid, timeout):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        q = self._events[cid]
        while not q:
            self._pump(deadline)
        return q.popleft()

    def open_raw(self, process_id=None, code_hash=None):
        """A plaintext channel (CHAN_UNENCRYPTED in Lua)."""
        return Channel(self, self._open(pb.RAW, process_id, code_hash))

    def open_nk(self, process_id=None, code_hash=None, server_key=None, accept=None,
                known_servers=None, trust_on_first_use=False):
        """A Noise NK channel. The server key is server_key (32 bytes), else the
        one pinned in known_servers (a path or KnownServers); a server missing
        there is refused unless trust_on_first_use, which pins GetInfo's key
        and remembers it after the handshake. A pinned key that GetInfo
        contradicts raises PinMismatch before any handshake. accept lists the
        acceptable code hashes (default: [code_hash]); the attested one must
        be among them (AttestationError)."""
        if accept is None:
            if code_hash is None:
                raise ValueError("open_nk by process_id needs accept=[code hashes]")
            accept = [code_hash]
        accept = [bytes(h) for h in accept]
        if not 1 <= len(accept) <= MAX_ACCEPTED or any(len(h) != HASH_LEN for h in accept):
            raise ValueError("accept 1..31 code hashes of 32 bytes")
        told = bytes(self.info().public_key)
        remember = None
        if server_key is None:
            store = known_servers if isinstance(known_servers, KnownServers) else (
                KnownServers(known_servers))
            server_key, _line = store.lookup(self.host, self.port)
            if server_key is None:
                if not trust_on_first_use:
                    raise PinMismatch("%s is not in %s (pin its key, or pass trust_on_first_use)"
                                      % (store.name(self.host, self.port), store.path))
                server_key, remember = told, store
        server_key = bytes(server_key)
        if told != server_key:
            raise PinMismatch("server key does not match the pinned key: pinned %s, the server "
                              "presents %s" % (fingerprint(server_key), fingerprint(told)))
        cid = self._open(pb.CLIENT_NK, process_id, code_hash)
        ch = NkChannel(self, cid, server_key)
        ch._handshake(accept)
        if remember is not None:
            remember.add(self.host, self.port, server_key)
        return ch


class Channel:
    """A raw channel: send(bytes), recv() -> bytes, close()."""

    def __init__(self, client, channel_id):
        self.client = client
        self.channel_id = channel_id
        self.closed = None          # (status, reason) once the server closed it

    def _send_data(self, data):
        f = pb.ClientFrame()
        f.channel_data.channel_id = self.channel_id
        f.channel_data.data = bytes(data)
        self.client._send(f)

    def _recv_data(self, timeout):
        if self.closed is not None:
            raise ChannelClosed(self.channel_id, *self.closed)
        kind, val = self.client._next_event(self.channel_id, timeout)
        if kind == "closed":
            self.closed = val
            raise ChannelClosed(self.channel_id, *val)
        return val

    def send(self, data):
        self._send_data(data)

    def recv(self, timeout=None):
        """The next message; raises ChannelClosed, or TimeoutError."""
        return self._recv_data(timeout)

    def close(self, timeout=None):
        """Sends ChannelClose and waits for the ChannelClosed; returns its status."""
        if self.closed is not None:
            return self.closed[0]
        f = pb.ClientFrame()
        f.channel_close.channel_id = self.channel_id
        self.client._send(f)
        while True:
            kind, val = self.client._next_event(self.channel_id, timeout)
            if kind == "closed":
                self.closed = val
                return val[0]


class NkChannel(Channel):
    """A Noise_NK_25519_ChaChaPoly_SHA256 channel (empty prologue). The client
    is the initiator: message 1 (e, es) carries the accepted code hashes,
    message 2 (e, ee) the attested one. After the split the initiator sends
    with the first CipherState and receives with the second."""

    def __init__(self, client, channel_id, server_key):
        super().__init__(client, channel_id)
        self.server_key = server_key
        self.code_hash = None       # the attested hash
        self._send_cs = self._recv_cs = None

    def _handshake(self, accept):
        hs = HandshakeState(SymmetricState(CipherState(ChaChaPolyCipher()), SHA256Hash()),
                            X25519DH())
        hs.initialize(NKHandshakePattern(), True, b"", rs=PublicKey(self.server_key))
        msg1 = bytearray()
        hs.write_message(b"".join(accept) + STRICT_MARKER, msg1)
        self._send_data(msg1)
        try:
            msg2 = self._recv_data(None)
        except ChannelClosed as e:
            raise HandshakeError("the server refused the handshake: %s (%s); a wrong pinned "
                                 "key or no acceptable code hash" % (
                                     pb.Status.Name(e.status), e.reason)) from e
        payload = bytearray()
        try:
            pair = hs.read_message(bytes(msg2), payload)
        except Exception as e:  # dissononce raises its DecryptFailedException
            raise HandshakeError("NK message 2 does not decrypt: %s" % e) from e
        if bytes(payload) not in accept:
            self.close()
            raise AttestationError("the server attests %s, which is not accepted"
                                   % bytes(payload).hex())
        self.code_hash = bytes(payload)
        self._send_cs, self._recv_cs = pair

    def send(self, data):
        """One application message in strict framing (asked for in message 1):
        full Noise messages, then a last one that is never full."""
        data = bytes(data)
        pieces = [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)]
        if len(data) % CHUNK == 0:
            pieces.append(b"")
        self._send_data(b"".join(self._send_cs.encrypt_with_ad(b"", p) for p in pieces))

    def recv(self, timeout=None):
        """The next message, decrypted piece by piece (each piece is one
        Noise message of at most 65535 bytes)."""
        ct = bytes(self._recv_data(timeout))
        out = []
        for i in range(0, len(ct), NOISE_MAX):
            piece = ct[i:i + NOISE_MAX]
            if len(piece) < TAG:
                raise HandshakeError("transport piece shorter than a tag")
            out.append(self._recv_cs.decrypt_with_ad(b"", piece))
        return b"".join(out)
