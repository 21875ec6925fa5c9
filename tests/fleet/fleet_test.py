#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""The fleet suite (DESIGN §7): three members and HAProxy on loopback.

Images come from scripts/mkfleet (one set of fleet keys, `peers` listed once
per pair, the replicated pinvault app); HAProxy runs the generated config
with its Ping health check. Clients are Python (dissononce + protoc
bindings), through HAProxy or straight to a member. Covers:

  links     the three links come up and `enclavectl peer list` shows them;
            PeerConnect; every failure recorded with its reason and
            redialled; a peer that stops reading is dropped (output bounded);
            Reset and the last process's destroy end links
  haproxy   NK channels with the one pinned key and code hash through
            HAProxy land on every member; a stopped member is routed around
            and its links come back when it restarts
  vault     guesses counted fleet-wide; the limit holds under concurrent
            guesses through all three; one member down works, two down
            refuses; restarts never reset a count; SIGKILL during a burst

usage: /usr/bin/python3 fleet_test.py --server PATH --enclavectl PATH --io uv|poll
           --source-root DIR [-k SUBSTRING] [-v]
Ends with "fleet: N passed, M failed"; exits 1 on any failure, 77 when
HAProxy is missing.
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleetlib as fl  # noqa: E402

ep = fl.ep


class Failure(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def eventually(fn, what, timeout=15.0):
    """Polls fn until it returns a true value; fails after timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.05)
    raise Failure("%s (still %r after %.0f s)" % (what, last, timeout))


class Fleet:
    """mkfleet images for three members, the members and HAProxy."""

    def __init__(self, args, pb, workdir, extra_sets=()):
        self.args, self.pb, self.work = args, pb, workdir
        ports = fl.free_ports(4)
        self.front = ports[3]
        members = ",".join("127.0.0.1:%d" % p for p in ports[:3])
        cmd = [os.path.join(args.source_root, "scripts", "mkfleet"), os.path.join(workdir, "fleet"),
               "--members", members, "--frontend", "127.0.0.1:%d" % self.front,
               "--keygen", args.keygen, "--set", "peer_backoff_min_ms=50",
               "--set", "peer_backoff_max_ms=400", "--set", "handshake_timeout_ms=2000"]
        for kv in extra_sets:
            cmd += ["--set", kv]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        env = {}
        with open(os.path.join(workdir, "fleet", "fleet.env")) as f:
            for line in f:
                k, v = line.strip().split("=", 1)
                env[k] = v
        self.pub = bytes.fromhex(env["FLEET_PUBKEY"])
        self.code_hash = bytes.fromhex(env["FLEET_CODE_HASH"])
        self.members = [fl.Member(args.server, args.io,
                                  os.path.join(workdir, "fleet", "member-%d.cpio" % (i + 1)),
                                  p, workdir, "member-%d" % (i + 1))
                        for i, p in enumerate(ports[:3])]
        self.haproxy = fl.HAProxy(os.path.join(workdir, "fleet", "haproxy.cfg"), workdir, self.front)

    def start(self):
        for m in self.members:
            m.start()
        self.haproxy.start()
        self.wait_links(3)
        self.wait_ready()

    def stats(self, m):
        c = m.connect(self.pb)
        try:
            return c.request(get_stats=self.pb.GetStats()).stats
        finally:
            c.close()

    def links(self):
        """{(dialler index, address): link} over the running members."""
        out = {}
        for i, m in enumerate(self.members):
            if m.running():
                for l in self.stats(m).peer_links:
                    out[(i, l.address)] = l
        return out

    def links_up(self):
        return sum(1 for l in self.links().values() if l.state == "up")

    def wait_links(self, n):
        eventually(lambda: self.links_up() == n, "%d peer links up" % n)

    def wait_ready(self, members=None):
        """Every running member's app copied the others' state."""
        for m in members or [m for m in self.members if m.running()]:
            eventually(lambda: b"pinvault: ready" in m.read_log().split(b"---- run %d\n" % m.runs)[-1],
                       "%s ready" % m.name)

    def vault(self, port=None):
        return fl.Vault(self.pb, port or self.front, self.pub, self.code_hash)

    def member_vault(self, i):
        return self.vault(self.members[i].port)

    def stop(self):
        errors = []
        err = self.haproxy.stop()
        if err:
            errors.append(err)
        for m in self.members:
            err = m.stop()
            if err:
                errors.append(err)
        return errors


# ---------------------------------------------------------------- tests

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def links_come_up_and_enclavectl_lists_them(t):
    f = t.fleet()
    links = f.links()
    check(len(links) == 3, "expected 3 links over the fleet, got %d" % len(links))
    for (i, addr), l in links.items():
        check(l.state == "up" and l.channel_id != 0, "link %s from member %d: %s" % (addr, i + 1, l.state))
        check(l.code_hash == f.code_hash, "link code hash")
        check(l.origin == "config", "link origin %r" % l.origin)
        check(l.messages_out >= 2 and l.messages_in >= 1 and l.bytes_out > 0,
              "link counters: %d/%d messages" % (l.messages_in, l.messages_out))
    # Member 1 dials 2 and 3, member 2 dials 3, member 3 dials nobody.
    dialled = sorted((i, a) for (i, a) in links)
    want = sorted([(0, "127.0.0.1:%d" % f.members[1].port), (0, "127.0.0.1:%d" % f.members[2].port),
                   (1, "127.0.0.1:%d" % f.members[2].port)])
    check(dialled == want, "links %r, expected %r" % (dialled, want))
    out = subprocess.run([t.args.enclavectl, "--port", str(f.members[0].port), "peer", "list"],
                         capture_output=True, text=True, timeout=20)
    check(out.returncode == 0, "enclavectl peer list exit %d: %s" % (out.returncode, out.stderr))
    rows = [line for line in out.stdout.splitlines()[1:] if line.strip()]
    check(len(rows) == 2 and all(" up " in r for r in rows), "peer list:\n" + out.stdout)
    out = subprocess.run([t.args.enclavectl, "--port", str(f.members[0].port), "--json", "peer", "list"],
                         capture_output=True, text=True, timeout=20)
    check(out.returncode == 0 and out.stdout.count('"state":"up"') == 2, "peer list --json:\n" + out.stdout)


@test
def peer_connect_reports_each_failure_and_redials(t):
    f = t.fleet()
    pb = f.pb
    m = f.members[2]
    c = m.connect(pb)
    # A port nobody listens on: refused, redialled with a growing failure count.
    dead = fl.free_ports(1)[0]
    r = c.request(peer_connect=pb.PeerConnect(address="127.0.0.1:%d" % dead, code_hash=f.code_hash))
    check(r.status == pb.OK and r.peer_connected.link_id > 0, "PeerConnect: %s" % r.message)
    lid = r.peer_connected.link_id
    r2 = c.request(peer_connect=pb.PeerConnect(address="127.0.0.1:%d" % dead, code_hash=f.code_hash))
    check(r2.peer_connected.link_id == lid, "the same link twice gets the same id")

    def link(lid):
        for l in c.request(get_stats=pb.GetStats()).stats.peer_links:
            if l.link_id == lid:
                return l
        return None
    l = eventually(lambda: (link(lid).failures >= 2) and link(lid), "refused link redials")
    check(l.origin == "request" and "refused" in l.last_error.lower(), "refused: %r" % l.last_error)

    # A listener that never answers: connected, but no ChannelOpen answer in time.
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(8)
    r = c.request(peer_connect=pb.PeerConnect(address="127.0.0.1:%d" % mute.getsockname()[1],
                                              code_hash=f.code_hash))
    mute_id = r.peer_connected.link_id
    eventually(lambda: "handshake timed out" in link(mute_id).last_error, "handshake timeout", timeout=20)
    mute.close()

    # A member without the app: the remote refuses the ChannelOpen.
    other = ep.sha256(b"other app")
    c.request(process_create=pb.ProcessCreate(lua_source=b"x = 1", name="other"))
    r = c.request(peer_connect=pb.PeerConnect(address="127.0.0.1:%d" % f.members[0].port,
                                              code_hash=ep.sha256(b"x = 1")))
    check(r.status == pb.OK, "PeerConnect for the other app: %s" % r.message)
    nf_id = r.peer_connected.link_id
    eventually(lambda: "NOT_FOUND" in link(nf_id).last_error, "remote without the code")
    check(other != f.code_hash, "hashes differ")

    # A server with another fleet key running the same app: the remote
    # handshake fails, and the link says so.
    foreign = ep.Server(t.args.server, t.args.io, t.work)
    try:
        fc = foreign.connect(pb)
        with open(os.path.join(t.work, "fleet", "member-1", "apps", "pinvault.lua"), "rb") as fh:
            fc.create_process(fh.read(), name="pinvault")
        r = c.request(peer_connect=pb.PeerConnect(address="127.0.0.1:%d" % foreign.port,
                                                  code_hash=f.code_hash))
        fk_id = r.peer_connected.link_id
        eventually(lambda: "PERMISSION_DENIED" in link(fk_id).last_error, "foreign fleet key")
        fc.close()
    finally:
        foreign.stop()

    # Unknown local hash and bad input are refused at once.
    r = c.request(peer_connect=pb.PeerConnect(address="127.0.0.1:1", code_hash=b"\x01" * 32))
    check(r.status == pb.NOT_FOUND, "unknown local hash: %s" % pb.Status.Name(r.status))
    # Destroying the last local process with a hash ends its links.
    c.request(process_destroy=pb.ProcessDestroy(code_hash=ep.sha256(b"x = 1")))
    check(link(nf_id) is None, "link of a destroyed app still listed")
    check(link(lid) is not None, "other links stay")
    c.close()


# Sends 40 messages of 900 kB, over max_output_buffer (16 MiB), to every
# member it meets over KK.
FLOOD_APP = (b"function HandleChannelCreate(cid, t)\n"
             b"  if t ~= CHAN_SERVER_KK then return nil end\n"
             b"  local out, big = {}, string.rep('x', 900000)\n"
             b"  for i = 1, 40 do out[i] = {cid, big} end\n"
             b"  return out\n"
             b"end\n")


def fake_member_that_stops_reading(pb, listener, fleet_private, stop):
    """Answers one link's ChannelOpen and KK handshake as a member would,
    then never reads again while holding the connection open."""
    conn, _ = listener.accept()
    buf = bytearray()

    def frame():
        while True:
            if len(buf) >= 4:
                n = int.from_bytes(buf[:4], "big")
                if len(buf) >= 4 + n:
                    body = bytes(buf[4:4 + n])
                    del buf[:4 + n]
                    f = pb.ClientFrame()
                    f.ParseFromString(body)
                    return f
            buf.extend(conn.recv(65536))

    def send(f):
        body = f.SerializeToString()
        conn.sendall(len(body).to_bytes(4, "big") + body)

    opened = frame()
    r = pb.ServerFrame()
    r.response.id = opened.request.id
    r.response.channel_opened.channel_id = 7
    send(r)
    msg1 = frame().channel_data.data
    pair = ep.keypair(fleet_private)
    peer = ep.NoisePeer("KK", False, s=pair, rs=pair.public)
    code_hash = peer.read(msg1)
    d = pb.ServerFrame()
    d.channel_data.channel_id = 7
    d.channel_data.data = peer.write(code_hash)
    send(d)
    stop.wait(30)
    conn.close()


@test
def a_peer_that_stops_reading_is_dropped_and_redialled(t):
    f = t.fleet()
    pb = f.pb
    c = f.members[2].connect(pb)
    _, flood_hash = c.create_process(FLOOD_APP, name="flood")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    with open(os.path.join(t.work, "fleet", "keys", "noise_static.key"), "rb") as fh:
        fleet_private = fh.read()
    stop = threading.Event()
    th = threading.Thread(target=fake_member_that_stops_reading,
                          args=(pb, listener, fleet_private, stop), daemon=True)
    th.start()
    r = c.request(peer_connect=pb.PeerConnect(address="127.0.0.1:%d" % listener.getsockname()[1],
                                              code_hash=flood_hash))
    lid = r.peer_connected.link_id

    def link():
        for l in c.request(get_stats=pb.GetStats()).stats.peer_links:
            if l.link_id == lid:
                return l
        return None
    try:
        l = eventually(lambda: "not reading" in link().last_error and link(), "link dropped")
        check(l.state != "up", "the link is %s" % l.state)
        check(f.stats(f.members[2]).memory_rss < 512 * 1024 * 1024, "member 3 grew without bound")
    finally:
        stop.set()
        th.join(5)
        listener.close()
    c.request(process_destroy=pb.ProcessDestroy(code_hash=flood_hash))
    check(link() is None, "the flood app's link outlived it")
    c.close()


@test
def reset_ends_links_and_the_remote_sees_the_close(t):
    f = t.fleet()
    pb = f.pb
    c = f.members[1].connect(pb)
    c.request(reset=pb.Reset())
    check(len(c.request(get_stats=pb.GetStats()).stats.peer_links) == 0, "links after Reset")
    # Member 1's link to member 2 loses its remote process: down with a reason.
    l = eventually(lambda: [x for (i, a), x in f.links().items()
                            if i == 0 and a.endswith(":%d" % f.members[1].port) and x.state != "up"
                            and x.last_error],
                   "member 1's link to the reset member goes down")
    check("NOT_FOUND" in l[0].last_error or "peer closed" in l[0].last_error
          or "lost" in l[0].last_error, "reason: %r" % l[0].last_error)
    c.close()
    t.discard_fleet()


@test
def haproxy_spreads_nk_clients_over_every_member(t):
    f = t.fleet()
    before = [f.stats(m).handshakes_ok for m in f.members]
    vaults = [f.vault() for _ in range(9)]
    for v in vaults:
        check(v.register(b"spread", b"1111", b"x", 3) == fl.OK, "register through HAProxy")
    after = [f.stats(m).handshakes_ok for m in f.members]
    per = [a - b for a, b in zip(after, before)]
    check(sum(per) >= 9 and all(n >= 1 for n in per), "NK handshakes per member: %r" % per)
    for v in vaults:
        v.close()


@test
def guesses_are_counted_fleet_wide(t):
    f = t.fleet()
    vs = [f.member_vault(i) for i in range(3)]
    check(vs[0].register(b"alice", b"2468", b"alice's secret", 6) == fl.OK, "register")
    seen = []
    for k in range(5):
        st, left = vs[k % 3].recover(b"alice", b"0000")
        check(st == fl.PERMISSION_DENIED, "wrong guess %d: status %d" % (k, st))
        seen.append(left)
    check(seen == [5, 4, 3, 2, 1], "tries left through members 1,2,3,1,2: %r" % seen)
    st, secret = vs[2].recover(b"alice", b"2468")
    check(st == fl.OK and secret == b"alice's secret", "right PIN: %d %r" % (st, secret))
    st, left = vs[1].recover(b"alice", b"0000")
    check((st, left) == (fl.PERMISSION_DENIED, 5), "count reset by the right PIN: %r" % ((st, left),))
    # Bad requests get INVALID_ARGUMENT and change nothing.
    check(vs[0].call(fl.OP_RECOVER, b"", b"\x00")[0] == fl.INVALID_ARGUMENT, "empty user id")
    check(vs[0].call(9, b"alice")[0] == fl.INVALID_ARGUMENT, "unknown op")
    check(vs[0].call(fl.OP_RECOVER, b"alice", b"\x05ab")[0] == fl.INVALID_ARGUMENT, "short pin")
    check(vs[0].delete(b"alice") == fl.OK, "delete")
    check(vs[2].recover(b"alice", b"2468")[0] == fl.NOT_FOUND, "deleted user")
    for v in vs:
        v.close()


def guess_until_gone(vault, uid, pin, results, lock):
    """Wrong guesses until the record is gone; appends (status, tries left)."""
    try:
        for _ in range(1000):
            st, left = vault.recover(uid, pin)
            with lock:
                results.append((st, left))
            if st == fl.NOT_FOUND:
                return
    except Exception as e:  # the connection of a killed member
        with lock:
            results.append(("error", repr(e)))


@test
def the_limit_holds_under_concurrent_guesses_through_all_three(t):
    f = t.fleet()
    limit = 30
    v = f.member_vault(0)
    check(v.register(b"bob", b"1357", b"bob's secret", limit) == fl.OK, "register")
    results, lock = [], threading.Lock()
    threads = [threading.Thread(target=guess_until_gone,
                                args=(f.member_vault(i % 3), b"bob", b"%04d" % i, results, lock))
               for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    check(not any(th.is_alive() for th in threads), "guessers still running after 60 s")
    denied = [left for st, left in results if st == fl.PERMISSION_DENIED]
    unknown = [st for st, _ in results if st in (fl.UNKNOWN, fl.ABORTED)]
    other = [(st, x) for st, x in results if st not in (fl.PERMISSION_DENIED, fl.NOT_FOUND,
                                                        fl.UNKNOWN, fl.ABORTED)]
    t.note("concurrent: %d answered wrong, %d unknown/aborted, %d not found"
           % (len(denied), len(unknown), sum(1 for st, _ in results if st == fl.NOT_FOUND)))
    check(not other, "unexpected answers: %r" % other[:5])
    check(len(denied) == len(set(denied)), "a tries-left value was given twice: %r" % sorted(denied))
    check(len(denied) <= limit, "%d wrong guesses answered, limit %d" % (len(denied), limit))
    check(len(denied) + len(unknown) >= limit, "the record went away after only %d guesses" % len(denied))
    check(v.recover(b"bob", b"1357")[0] == fl.NOT_FOUND, "bob's record outlived the limit")
    v.close()


@test
def one_member_down_works_two_down_refuses_and_restarts_keep_counts(t):
    f = t.fleet()
    v0 = f.member_vault(0)
    check(v0.register(b"carol", b"9999", b"carol's secret", 10) == fl.OK, "register")
    check(v0.recover(b"carol", b"0000") == (fl.PERMISSION_DENIED, 9), "first wrong guess")
    v0.close()
    f.members[2].stop()
    # Member 3's links go down with a reason; HAProxy routes around it.
    eventually(lambda: f.links_up() == 1, "only the link 1-2 stays up")
    downs = [l for l in f.links().values() if l.state != "up"]
    check(len(downs) == 2 and all(l.last_error for l in downs), "down links carry a reason")
    for k in range(4):
        v = f.vault()
        st, left = v.recover(b"carol", b"0000")
        check((st, left) == (fl.PERMISSION_DENIED, 8 - k), "through HAProxy, one down: %r" % ((st, left),))
        v.close()
    f.members[1].stop()
    v = f.member_vault(0)
    check(v.recover(b"carol", b"0000")[0] == fl.UNAVAILABLE, "a lone member answers UNAVAILABLE")
    check(v.register(b"dave", b"1", b"x", 3) == fl.UNAVAILABLE, "a lone member refuses a register")
    v.close()
    # Both come back empty and copy the state before voting; nothing resets.
    f.members[1].start()
    f.members[2].start()
    f.wait_links(3)
    f.wait_ready()
    for i in (2, 1, 0):
        v = f.member_vault(i)
        st, left = v.recover(b"carol", b"0000")
        check(st == fl.PERMISSION_DENIED, "after restarts via member %d: %d" % (i + 1, st))
        want = {2: 4, 1: 3, 0: 2}[i]
        check(left == want, "after restarts via member %d: %d tries left, expected %d" % (i + 1, left, want))
        v.close()
    # Restart each member in turn: the count survives every one.
    for i in range(3):
        f.members[i].stop()
        f.members[i].start()
        f.wait_links(3)
        f.wait_ready()
    v = f.vault()
    check(v.recover(b"carol", b"0000") == (fl.PERMISSION_DENIED, 1), "after rolling restarts")
    st, secret = v.recover(b"carol", b"9999")
    check(st == fl.OK and secret == b"carol's secret", "the secret survives: %d" % st)
    v.close()


@test
def sigkill_during_a_burst_loses_and_doubles_no_guess(t):
    f = t.fleet()
    limit = 400
    v = f.member_vault(0)
    check(v.register(b"erin", b"4242", b"erin's secret", limit) == fl.OK, "register")
    results, lock = [], threading.Lock()
    threads = [threading.Thread(target=guess_until_gone,
                                args=(f.member_vault(i % 3), b"erin", b"%04d" % i, results, lock))
               for i in range(6)]
    for th in threads:
        th.start()
    eventually(lambda: len(results) >= 120, "the burst got going")
    f.members[1].kill()
    for th in threads:
        th.join(60)
    check(not any(th.is_alive() for th in threads), "guessers still running after 60 s")
    denied = [left for st, left in results if st == fl.PERMISSION_DENIED]
    unsure = [st for st, _ in results if st in (fl.UNKNOWN, fl.ABORTED, "error")]
    wrong = [(st, x) for st, x in results if st == fl.OK]
    t.note("SIGKILL burst: %d answered wrong, %d unknown (UNKNOWN/ABORTED/connection lost), "
           "%d not found, limit %d" % (len(denied), len(unsure),
                                      sum(1 for st, _ in results if st == fl.NOT_FOUND), limit))
    check(not wrong, "a wrong PIN was accepted")
    check(len(denied) == len(set(denied)), "a tries-left value was given twice (a guess lost or "
          "double-counted): %r" % sorted(denied))
    check(len(denied) <= limit, "more wrong guesses answered than the limit")
    check(len(denied) + len(unsure) >= limit, "record gone after %d counted guesses" % len(denied))
    # The survivors agree: the record is gone everywhere.
    for i in (0, 2):
        vv = f.member_vault(i)
        check(vv.recover(b"erin", b"4242")[0] == fl.NOT_FOUND, "erin survives on member %d" % (i + 1))
        vv.close()
    # A second user, guesses counted exactly, across the restart of the killed member.
    check(v.register(b"frank", b"1", b"f", 20) == fl.OK, "register after the kill")
    f.members[1].start()
    f.wait_links(3)
    f.wait_ready()
    lefts = []
    for k in range(6):
        vv = f.member_vault(k % 3)
        lefts.append(vv.recover(b"frank", b"0")[1])
        vv.close()
    check(lefts == [19, 18, 17, 16, 15, 14], "exact counting after the restart: %r" % lefts)
    v.close()


# ---------------------------------------------------------------- runner

class Runner:
    def __init__(self, args, pb, workdir):
        self.args, self.pb, self.base = args, pb, workdir
        self.current = None
        self.notes = []
        self.work = None

    def fleet(self):
        if self.current is None:
            self.work = tempfile.mkdtemp(dir=self.base)
            self.current = Fleet(self.args, self.pb, self.work)
            self.current.start()
        return self.current

    def discard_fleet(self):
        if self.current is not None:
            errors = self.current.stop()
            self.current = None
            if errors:
                raise Failure("; ".join(errors))

    def note(self, text):
        self.notes.append(text)
        print("fleet:   " + text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", required=True)
    ap.add_argument("--enclavectl", required=True)
    ap.add_argument("--keygen", required=True)
    ap.add_argument("--io", default=os.environ.get("ENCLAVED_IO", "uv"), choices=["uv", "poll"])
    ap.add_argument("--source-root", required=True)
    ap.add_argument("-k", dest="only", action="append",
                    help="run only tests whose name contains this (repeatable)")
    ap.add_argument("-v", dest="verbose", action="store_true")
    args = ap.parse_args()
    if shutil.which("haproxy") is None:
        print("fleet: haproxy is not installed (scripts/deps installs it); skipping")
        return 77
    base = tempfile.mkdtemp(prefix="enclaved-fleet-")
    pb = ep.build_bindings(os.path.join(args.source_root, "proto", "enclaved.proto"), base)
    runner = Runner(args, pb, base)
    passed = failed = 0
    try:
        for fn in TESTS:
            if args.only and not any(k in fn.__name__ for k in args.only):
                continue
            started = time.monotonic()
            try:
                fn(runner)
                # Tests that change membership start the next one afresh.
                if fn.__name__.startswith(("one_member", "sigkill", "the_limit", "reset")):
                    runner.discard_fleet()
                passed += 1
                print("fleet: PASS %s (%.1f s)" % (fn.__name__, time.monotonic() - started))
            except Exception as e:
                failed += 1
                print("fleet: FAIL %s: %s" % (fn.__name__, e))
                if args.verbose or not isinstance(e, Failure):
                    traceback.print_exc()
                if runner.current is not None:
                    for m in runner.current.members:
                        print("---- %s log tail\n%s" % (m.name, m.tail(25)))
                    runner.current.stop()
                    runner.current = None
        runner.discard_fleet()
    except Exception as e:
        failed += 1
        print("fleet: FAIL shutdown: %s" % e)
    finally:
        if runner.current is not None:
            runner.current.stop()
        if failed == 0:
            shutil.rmtree(base, ignore_errors=True)
        else:
            print("fleet: logs kept in %s" % base)
    print("fleet: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
