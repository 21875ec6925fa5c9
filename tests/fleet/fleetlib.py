# SPDX-License-Identifier: AGPL-3.0-or-later
"""Test-only support for the fleet suite: members, HAProxy, the pinvault client.

Builds on tests/interop/enclaved_peer.py (protobuf bindings from protoc,
Noise from Debian's python3-dissononce), so the client side shares no code
with the server. Run with /usr/bin/python3.

  free_ports(n)                 n loopback ports nobody listens on now
  Member                        one enclaved from its fleet image, restartable
  HAProxy                       haproxy -f CFG in the foreground, stopped cleanly
  Relay                         a KK channel between two members, relayed by a
                                fleet-key-less host (bytes only)
  Vault                         a pinvault client on one NK channel
"""

import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "interop"))
import enclaved_peer as ep  # noqa: E402

# pinvault statuses are the gRPC numbers (README "The replicated PIN vault").
OK, UNKNOWN, INVALID_ARGUMENT, NOT_FOUND = 0, 2, 3, 5
PERMISSION_DENIED, RESOURCE_EXHAUSTED, ABORTED, UNAVAILABLE = 7, 8, 10, 14
OP_REGISTER, OP_RECOVER, OP_DELETE = 1, 2, 3


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


class Member:
    """enclaved on a fixed port from a fleet image; start/stop/kill/restart."""

    def __init__(self, binary, io, image, port, workdir, name, extra_args=()):
        self.binary, self.io, self.image, self.port = binary, io, image, port
        self.name = name
        self.log_path = os.path.join(workdir, "%s.log" % name)
        self.extra_args = list(extra_args)
        self.proc = None
        self.log = None
        self.runs = 0

    def start(self):
        self.runs += 1
        self.log = open(self.log_path, "ab")
        self.log.write(b"---- run %d\n" % self.runs)
        self.log.flush()
        args = [self.binary, "--userdata", self.image, "--io", self.io] + self.extra_args
        env = dict(os.environ)
        preload = os.environ.get("ENCLAVED_TEST_PRELOAD")
        if preload:
            # As tests/support/server.c: the CodeSafe allow-list (seccomp) in
            # the member from before main; new threads must not try rseq.
            env["LD_PRELOAD"] = preload
            env["GLIBC_TUNABLES"] = "glibc.pthread.rseq=0"
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, env=env)
        ready = ("enclaved: listening on 127.0.0.1:%d\n" % self.port).encode()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if ready in self.read_log().split(b"---- run %d\n" % self.runs)[-1]:
                return
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %d before it was ready:\n%s"
                                   % (self.name, self.proc.returncode, self.tail()))
            time.sleep(0.01)
        self.proc.kill()
        self.proc.wait()
        raise RuntimeError("%s printed no ready line in 10 s" % self.name)

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read()

    def tail(self, n=40):
        return b"\n".join(self.read_log().splitlines()[-n:]).decode(errors="replace")

    def preload_problem(self):
        """Under ENCLAVED_TEST_PRELOAD: a description of an off-list call or a
        missing filter in this member's log, else None."""
        if not os.environ.get("ENCLAVED_TEST_PRELOAD"):
            return None
        log = self.read_log()
        if b"filter installed before main" not in log:
            return "%s: the seccomp filter did not go in" % self.name
        for line in log.splitlines():
            if b"off-list syscall " in line:
                return "%s met %s" % (self.name, line.decode(errors="replace"))
        return None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM and wait; None on a clean exit, else a description."""
        if self.proc is None:
            return None
        err = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                err = "%s did not exit within 10 s of SIGTERM" % self.name
        if err is None and self.proc.returncode != 0:
            err = "%s exited with status %d" % (self.name, self.proc.returncode)
        self.proc = None
        self.log.close()
        return err or self.sanitizer_problem() or self.preload_problem()

    def sanitizer_problem(self):
        """A sanitizer report in this member's log (UBSan goes on after one)."""
        for line in self.read_log().splitlines():
            if b"runtime error:" in line or b"Sanitizer" in line:
                return "%s: %s" % (self.name, line.decode(errors="replace"))
        return None

    def kill(self):
        """SIGKILL: the member loses everything it held in memory."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None
        if self.log is not None:
            self.log.close()

    def connect(self, pb, timeout=10.0):
        return ep.Connection(pb, self.port, timeout=timeout)


class HAProxy:
    """haproxy in the foreground (-db) with a generated config."""

    def __init__(self, cfg_path, workdir, port):
        self.cfg_path, self.port = cfg_path, port
        self.log_path = os.path.join(workdir, "haproxy.log")
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", self.cfg_path],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        if not wait_port(self.port):
            raise RuntimeError("haproxy is not listening on %d:\n%s" % (self.port, self.tail()))

    def tail(self, n=40):
        with open(self.log_path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")

    def stop(self):
        if self.proc is None:
            return None
        err = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)  # soft stop
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                err = "haproxy did not exit within 10 s"
        self.proc = None
        self.log.close()
        return err


def _frames(buf):
    """Splits complete length-prefixed frames off the front of buf."""
    out = []
    while len(buf) >= 4:
        n = struct.unpack(">I", buf[:4])[0]
        if len(buf) < 4 + n:
            break
        out.append(bytes(buf[4:4 + n]))
        del buf[:4 + n]
    return out


class Relay:
    """A KK channel between two members made by a host that holds no key:
    SERVER_KK_INITIATOR on a, SERVER_KK_RESPONDER on b, and every ChannelData
    copied across by a thread. Closing either side (or stop()) ends both."""

    def __init__(self, pb, a, b, code_hash):
        self.pb = pb
        self.ca = a.connect(pb)
        self.cb = b.connect(pb)
        self.ida = self.ca.open_channel(pb.SERVER_KK_INITIATOR, code_hash=code_hash)
        self.idb = self.cb.open_channel(pb.SERVER_KK_RESPONDER, code_hash=code_hash)
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _forward(self, frame_bytes, dst, dst_id, src_id):
        f = self.pb.ServerFrame()
        f.ParseFromString(frame_bytes)
        kind = f.WhichOneof("kind")
        if kind == "channel_data" and f.channel_data.channel_id == src_id:
            dst.send_data(dst_id, f.channel_data.data)
            return True
        if kind == "channel_closed" and f.channel_closed.channel_id == src_id:
            return False
        return True

    def _run(self):
        bufs = {self.ca: bytearray(self.ca.buf), self.cb: bytearray(self.cb.buf)}
        # Frames already queued by open_channel (the initiator's message 1).
        pending = [(self.ca, d) for k, d in self.ca.channels[self.ida] if k == "data"]
        self.ca.channels[self.ida].clear()
        for _, d in pending:
            self.cb.send_data(self.idb, d)
        route = {self.ca: (self.cb, self.idb, self.ida), self.cb: (self.ca, self.ida, self.idb)}
        alive = True
        for conn in (self.ca, self.cb):
            dst, dst_id, src_id = route[conn]
            for fb in _frames(bufs[conn]):
                alive = self._forward(fb, dst, dst_id, src_id) and alive
        while alive and not self.stopping:
            r, _, _ = select.select([self.ca.sock, self.cb.sock], [], [], 0.1)
            for conn in (self.ca, self.cb):
                if conn.sock not in r:
                    continue
                try:
                    chunk = conn.sock.recv(1 << 20)
                except OSError:
                    chunk = b""
                if not chunk:
                    alive = False
                    break
                bufs[conn] += chunk
                dst, dst_id, src_id = route[conn]
                for fb in _frames(bufs[conn]):
                    if not self._forward(fb, dst, dst_id, src_id):
                        alive = False
        for conn in (self.ca, self.cb):
            try:
                conn.close()
            except OSError:
                pass

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=5)


class Vault:
    """A pinvault client: one NK channel, pinned fleet key and code hash."""

    def __init__(self, pb, port, server_pub, code_hash, timeout=10.0):
        self.pb = pb
        self.conn = ep.Connection(pb, port, timeout=timeout)
        self.cid = self.conn.open_channel(pb.CLIENT_NK, code_hash=code_hash)
        self.peer = ep.NoisePeer("NK", True, rs=ep.public_key(server_pub))
        self.conn.send_data(self.cid, self.peer.write(code_hash))
        kind, msg2 = self.conn.next_event(self.cid)
        if kind != "data":
            raise ep.ProtocolError("NK channel closed: %r" % (msg2,))
        attested = self.peer.read(msg2)
        if attested != code_hash:
            raise ep.ProtocolError("attested code hash %s" % attested.hex())
        self.next_req = 1

    def close(self):
        self.conn.close()

    def send(self, op, uid, body=b""):
        req = self.next_req
        self.next_req += 1
        msg = struct.pack(">BIB", op, req, len(uid)) + uid + body
        self.conn.send_data(self.cid, self.peer.encrypt(msg))
        return req

    def recv(self, timeout=None):
        """(req, status, payload) of the next reply."""
        kind, data = self.conn.next_event(self.cid, timeout=timeout)
        if kind != "data":
            raise ep.ProtocolError("NK channel closed: %r" % (data,))
        msg = self.peer.decrypt(data)
        op, req, status = struct.unpack(">BIB", msg[:6])
        return req, status, msg[6:]

    def call(self, op, uid, body=b"", timeout=None):
        req = self.send(op, uid, body)
        got, status, payload = self.recv(timeout)
        if got != req:
            raise ep.ProtocolError("reply for request %d, expected %d" % (got, req))
        return status, payload

    def register(self, uid, pin, secret, limit):
        body = ep.sha256(pin) + struct.pack(">H", limit) + struct.pack(">H", len(secret)) + secret
        return self.call(OP_REGISTER, uid, body)[0]

    def recover(self, uid, pin):
        """(status, secret or tries left or None)."""
        status, payload = self.call(OP_RECOVER, uid, struct.pack(">B", len(pin)) + pin)
        if status == OK:
            n = struct.unpack(">H", payload[:2])[0]
            return status, payload[2:2 + n]
        if status == PERMISSION_DENIED:
            return status, struct.unpack(">H", payload)[0]
        return status, None

    def delete(self, uid):
        return self.call(OP_DELETE, uid)[0]
