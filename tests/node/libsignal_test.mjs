// SPDX-License-Identifier: AGPL-3.0-or-later
// Signal's own client, libsignal's HsmEnclaveClient (npm
// @signalapp/libsignal-client, pinned in package-lock.json), against the real
// enclaved over TCP (DESIGN §6): handshake and attestation, refusals, every
// size at the chunk boundaries both ways, the broadcast app between a
// libsignal client and an enclaved C-library client (nk_peer), and a
// hostile relay cutting a strict-framing client's message at a chunk
// boundary.
//
// usage: node libsignal_test.mjs --server ENCLAVED --io uv|poll --proto PROTO
//            --source-root DIR --peer NK_PEER
// Skips (exit 77) with a clear line when the npm packages are missing; with
// ENCLAVED_REQUIRE_LIBSIGNAL=1 that is a failure instead.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';

import * as E from './enclaved.mjs';

const args = E.parseArgs(process.argv.slice(2));
const mods = await E.loadPackages('libsignal', ['@signalapp/libsignal-client', 'protobufjs']);
const { HsmEnclaveClient } = mods['@signalapp/libsignal-client'];
const protobuf = mods.protobufjs.default;

const ECHO = 'function HandleChannelMessage(cid, msg) return {{cid, msg}} end\n';
const SIZES = [0, 1, 65518, 65519, 65520, 131038, 131039, 1000000];

let pb, server, conn, serverKey, echo, dir;

// The ciphertext length of strict framing, what the server always sends.
function strictLen(n) {
  return n + 16 * (Math.floor(n / E.CHUNK) + 1);
}

before(async () => {
  dir = E.tempDir();
  pb = await E.loadProto(protobuf, args.proto);
  server = await E.startServer(args.server, args.io, dir);
  conn = await E.Connection.open(pb, server.port);
  serverKey = await conn.publicKey();
  echo = await conn.createProcess('echo', ECHO);
});

after(async () => {
  conn?.close();
  if (server) {
    assert.equal(await E.stop(server), 0, 'enclaved exits 0 on SIGTERM');
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

// Opens a CLIENT_NK channel by code hash and runs libsignal's handshake.
async function openLibsignal(c, hash, accepted = [hash]) {
  const cid = await c.openChannel(E.ChannelType.CLIENT_NK, { code_hash: hash });
  const client = HsmEnclaveClient.new(serverKey, accepted);
  c.sendData(cid, client.initialRequest());
  const msg2 = await c.expectData(cid);
  assert.equal(msg2.length, 32 + 32 + 16, 'NK message 2 carries one code hash');
  client.completeHandshake(msg2);
  return { cid, client };
}

async function expectClosed(c, cid, status, reason) {
  const ev = await c.next(cid);
  assert.equal(ev.kind, 'closed', `expected ChannelClosed, got ${ev.kind}`);
  assert.equal(ev.status, status, `ChannelClosed ${ev.status} "${ev.reason}"`);
  assert.equal(ev.reason, reason);
}

test('libsignal completes the NK handshake and attests the code hash', async () => {
  const { cid, client } = await openLibsignal(conn, echo.hash);
  conn.sendData(cid, client.establishedSend(Buffer.from('hello enclave')));
  const back = client.establishedRecv(await conn.expectData(cid));
  assert.equal(Buffer.from(back).toString(), 'hello enclave');
  conn.sendClose(cid);
  await expectClosed(conn, cid, E.Status.OK, 'closed by the client');
});

test('a code hash the process does not have is refused, and so is a wrong server key', async () => {
  const cid = await conn.openChannel(E.ChannelType.CLIENT_NK, { code_hash: echo.hash });
  const stranger = HsmEnclaveClient.new(serverKey, [randomBytes(32)]);
  conn.sendData(cid, stranger.initialRequest());
  await expectClosed(conn, cid, E.Status.PERMISSION_DENIED, 'handshake failed');

  const cid2 = await conn.openChannel(E.ChannelType.CLIENT_NK, { code_hash: echo.hash });
  const wrongKey = Buffer.from(serverKey);
  wrongKey[3] ^= 0x20;
  conn.sendData(cid2, HsmEnclaveClient.new(wrongKey, [echo.hash]).initialRequest());
  await expectClosed(conn, cid2, E.Status.PERMISSION_DENIED, 'handshake failed');
});

test('messages of every size echo both ways in libsignal framing', async () => {
  const { cid, client } = await openLibsignal(conn, echo.hash);
  for (const n of SIZES) {
    const msg = E.pattern(n, n);
    const sent = client.establishedSend(msg);
    conn.sendData(cid, sent);
    const ct = await conn.expectData(cid);
    assert.equal(ct.length, strictLen(n), `the server's ${n}-byte reply is strict`);
    const back = Buffer.from(client.establishedRecv(ct));
    assert.equal(back.length, n, `${n}-byte message came back as ${back.length}`);
    assert.ok(back.equals(msg), `${n}-byte message came back changed`);
  }
  assert.equal(client.establishedSend(Buffer.alloc(0)).length, 0, 'libsignal sends zero bytes for ""');
});

test('broadcast between a libsignal client and an enclaved C-library client', async () => {
  const source = fs.readFileSync(path.join(args['source-root'], 'userdata', 'apps', 'broadcast.lua'));
  const bc = await conn.createProcess('broadcast', source);
  const { cid, client } = await openLibsignal(conn, bc.hash);
  const peer = new E.CPeer(args.peer, server.port, serverKey, bc.hash);
  try {
    await peer.opened();
    for (const n of SIZES) {
      const fromSignal = E.pattern(n, 1);
      conn.sendData(cid, client.establishedSend(fromSignal));
      const got = await peer.recv();
      assert.equal(got.status, E.Status.OK, `C client receive: ${got.body}`);
      assert.ok(got.body.equals(fromSignal), `${n} bytes libsignal -> C came as ${got.body.length}`);

      const fromC = E.pattern(n, 2);
      await peer.send(fromC);
      const back = Buffer.from(client.establishedRecv(await conn.expectData(cid)));
      assert.ok(back.equals(fromC), `${n} bytes C -> libsignal came as ${back.length}`);
    }
    await peer.quit();
  } finally {
    peer.kill();
    conn.sendClose(cid);
  }
});

test('a host cutting a message at a chunk boundary: DATA_LOSS for a strict client only', async () => {
  const msg = E.pattern(2 * E.CHUNK + 1);   // 131039 B: pieces of 65535, 65535 and 17
  const cut = 2 * E.NOISE_MAX;

  // libsignal with the strict marker among its accepted hashes.
  const strict = await openLibsignal(conn, echo.hash, [echo.hash, E.STRICT_MARKER]);
  conn.sendData(strict.cid, strict.client.establishedSend(msg).subarray(0, cut));
  await expectClosed(conn, strict.cid, E.Status.DATA_LOSS, 'decrypt failed');

  // The price of libsignal framing: the same cut reads as a shorter message.
  const plain = await openLibsignal(conn, echo.hash);
  conn.sendData(plain.cid, plain.client.establishedSend(msg).subarray(0, cut));
  const back = Buffer.from(plain.client.establishedRecv(await conn.expectData(plain.cid)));
  assert.ok(back.equals(msg.subarray(0, 2 * E.CHUNK)), 'libsignal framing reads the prefix');

  // A strict libsignal client cannot send exact multiples of 65519 bytes.
  const multiple = await openLibsignal(conn, echo.hash, [E.STRICT_MARKER, echo.hash]);
  conn.sendData(multiple.cid, multiple.client.establishedSend(E.pattern(E.CHUNK)));
  await expectClosed(conn, multiple.cid, E.Status.DATA_LOSS, 'decrypt failed');
});

// A TCP relay that forwards frames both ways but truncates every client
// ChannelData longer than `cut` bytes to its first `cut` bytes.
function hostileRelay(port, cut) {
  const relay = net.createServer((down) => {
    const up = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    up.on('data', (d) => down.write(d));
    down.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const n = buf.readUInt32BE(0);
        const f = pb.ClientFrame.decode(buf.subarray(4, 4 + n));
        buf = buf.subarray(4 + n);
        if (f.channel_data && f.channel_data.data.length > cut) {
          f.channel_data.data = f.channel_data.data.subarray(0, cut);
          relay.cuts++;
        }
        const body = pb.ClientFrame.encode(f).finish();
        const head = Buffer.alloc(4);
        head.writeUInt32BE(body.length);
        up.write(Buffer.concat([head, body]));
      }
    });
    for (const [a, b] of [[up, down], [down, up]]) {
      a.on('error', () => b.destroy());
      a.on('close', () => b.destroy());
    }
  });
  relay.cuts = 0;
  return new Promise((resolve) => relay.listen(0, '127.0.0.1', () => resolve(relay)));
}

test('the C library asks for strict framing: a relay that cuts its message gets DATA_LOSS', async () => {
  const relay = await hostileRelay(server.port, 2 * E.NOISE_MAX);
  const peer = new E.CPeer(args.peer, relay.address().port, serverKey, echo.hash);
  try {
    await peer.opened();
    await peer.send(E.pattern(100));
    assert.ok((await peer.recv()).body.equals(E.pattern(100)), 'uncut messages pass the relay');
    await peer.send(E.pattern(2 * E.CHUNK + 1));
    const got = await peer.recv();
    assert.equal(relay.cuts, 1, 'the relay cut one message');
    assert.equal(got.status, E.Status.DATA_LOSS, `C client sees ${got.status} ${got.body}`);
    assert.equal(got.body.toString(), 'decrypt failed');
  } finally {
    peer.kill();
    relay.close();
    relay.closeAllConnections?.();
  }
});
