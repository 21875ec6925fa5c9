#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""Tests of the enclaved_client package against the real server binary.

usage: /usr/bin/python3 test_enclaved_client.py ENCLAVED [uv|poll]
(with enclaved_pb2 and the package on PYTHONPATH, as meson sets it up)
"""

import hashlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import enclaved_pb2 as pb
from enclaved_client import (ChannelClosed, Client, HandshakeError,
                             KnownServers, PinMismatch, StatusError, fingerprint)

ECHO = b"function HandleChannelMessage(cid, msg) return {{cid, msg}} end\n"
READY = re.compile(rb"enclaved: listening on 127\.0\.0\.1:([0-9]+)\n")
SERVER = None


class Server:
    def __init__(self, binary, io, workdir):
        self.log_path = os.path.join(workdir, "server.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([binary, "--ephemeral-keys", "--listen=127.0.0.1:0",
                                      "--io=" + io], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as f:
                m = READY.search(f.read())
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                raise RuntimeError("enclaved exited with %d" % self.proc.returncode)
            time.sleep(0.01)
        raise RuntimeError("enclaved not ready")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=10)
        self.log.close()
        return rc


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.c = Client("127.0.0.1", SERVER.port)
        self.pid, self.hash = self.c.create_process(ECHO, name="echo")
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        try:
            self.c.destroy_process(self.pid)
        finally:
            self.c.close()
            self.tmp.cleanup()

    def test_info_ping_and_process_list(self):
        self.c.ping()
        info = self.c.info()
        self.assertEqual(info.protocol_version, 1)
        self.assertEqual(len(info.public_key), 32)
        self.assertEqual(self.hash, hashlib.sha256(ECHO).digest())
        listed = [p for p in self.c.list_processes() if p.process_id == self.pid]
        self.assertEqual(len(listed), 1)
        self.assertEqual(listed[0].name, "echo")
        self.assertEqual(listed[0].code_hash, self.hash)

    def test_responses_are_matched_by_id_in_any_order(self):
        ids = [self.c.send_request(ping=pb.Ping()),
               self.c.send_request(get_info=pb.GetInfo()),
               self.c.send_request(process_destroy=pb.ProcessDestroy(process_id=999999))]
        bad = self.c.wait_response(ids[2], check=False)
        self.assertEqual(bad.status, pb.NOT_FOUND)
        self.assertEqual(bad.id, ids[2])
        self.assertEqual(len(self.c.wait_response(ids[1]).info.public_key), 32)
        self.assertEqual(self.c.wait_response(ids[0]).id, ids[0])
        with self.assertRaises(StatusError) as e:
            self.c.destroy_process(999999)
        self.assertEqual(e.exception.status, pb.NOT_FOUND)

    def test_raw_channel_echoes_and_closes(self):
        ch = self.c.open_raw(code_hash=self.hash)
        for msg in (b"hello", b"", b"\x00\xff" * 1000):
            ch.send(msg)
            self.assertEqual(ch.recv(), msg)
        self.assertEqual(ch.close(), pb.OK)

    def test_nk_channel_with_pinned_key_and_attested_hash(self):
        key = bytes(self.c.info().public_key)
        ch = self.c.open_nk(code_hash=self.hash, server_key=key)
        self.assertEqual(ch.code_hash, self.hash)
        for msg in (b"secret", b"", os.urandom(65519), os.urandom(140000)):
            ch.send(msg)
            self.assertEqual(ch.recv(), msg)
        self.assertEqual(ch.close(), pb.OK)

    def test_nk_refuses_a_wrong_pinned_key_before_the_handshake(self):
        with self.assertRaises(PinMismatch) as e:
            self.c.open_nk(code_hash=self.hash, server_key=bytes(32))
        self.assertIn("does not match the pinned key", str(e.exception))

    def test_nk_refuses_an_unaccepted_code_hash(self):
        key = bytes(self.c.info().public_key)
        # By process id, accepting only another hash: the server refuses.
        with self.assertRaises(HandshakeError):
            self.c.open_nk(process_id=self.pid, server_key=key, accept=[bytes(32)])

    def test_known_servers_trust_on_first_use_then_pin(self):
        path = os.path.join(self.tmp.name, "known_servers")
        store = KnownServers(path)
        with self.assertRaises(PinMismatch):
            self.c.open_nk(code_hash=self.hash, known_servers=store)
        ch = self.c.open_nk(code_hash=self.hash, known_servers=store, trust_on_first_use=True)
        ch.send(b"one")
        self.assertEqual(ch.recv(), b"one")
        ch.close()
        key = bytes(self.c.info().public_key)
        with open(path) as f:
            self.assertEqual(f.read(), "127.0.0.1:%d %s\n" % (SERVER.port, key.hex()))
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        # Pinned now: works without trust_on_first_use, refuses a changed key.
        self.c.open_nk(code_hash=self.hash, known_servers=path).close()
        with open(path, "w") as f:
            f.write("# changed\n127.0.0.1:%d %s\n" % (SERVER.port, "ab" * 32))
        with self.assertRaises(PinMismatch) as e:
            self.c.open_nk(code_hash=self.hash, known_servers=path)
        self.assertIn(fingerprint(key), str(e.exception))

    def test_channel_closed_by_process_destroy(self):
        ch = self.c.open_raw(process_id=self.pid)
        other = Client("127.0.0.1", SERVER.port)
        try:
            other.destroy_process(self.pid)
        finally:
            other.close()
        with self.assertRaises(ChannelClosed) as e:
            ch.recv()
        self.assertEqual(e.exception.status, pb.UNAVAILABLE)
        self.pid, _ = self.c.create_process(ECHO, name="echo")


def main():
    global SERVER
    binary, io = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "uv")
    with tempfile.TemporaryDirectory() as work:
        SERVER = Server(binary, io, work)
        try:
            result = unittest.main(argv=[sys.argv[0], "-v"], exit=False).result
        finally:
            rc = SERVER.stop()
        if rc != 0:
            print("enclaved exited with %d" % rc)
            sys.exit(1)
        sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
