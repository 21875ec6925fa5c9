// SPDX-License-Identifier: AGPL-3.0-or-later
// enclave-gateway with Signal's client over WebSocket (npm ws, pinned):
// app -> WebSocket -> gateway -> enclaved, the Noise channel end to end.
// Handshake and every size both ways, the broadcast app between libsignal
// over WebSocket and the enclaved C library over TCP, close codes both ways,
// many clients at once, and clients that vanish mid-handshake.
//
// usage: node gateway_test.mjs --server ENCLAVED --gateway GATEWAY --io uv|poll
//            --proto PROTO --source-root DIR --peer NK_PEER

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';

import * as E from './enclaved.mjs';

const args = E.parseArgs(process.argv.slice(2));
const mods = await E.loadPackages('gateway', ['@signalapp/libsignal-client', 'protobufjs', 'ws']);
const { HsmEnclaveClient } = mods['@signalapp/libsignal-client'];
const protobuf = mods.protobufjs.default;
const WebSocket = mods.ws.default;

const ECHO = 'function HandleChannelMessage(cid, msg) return {{cid, msg}} end\n';
const SIZES = [0, 1, 65518, 65519, 65520, 131038, 131039, 1000000];

let pb, server, gateway, conn, serverKey, echo, broadcast, dir;

before(async () => {
  dir = E.tempDir();
  pb = await E.loadProto(protobuf, args.proto);
  server = await E.startServer(args.server, args.io, dir);
  gateway = await E.spawnReady(
    [args.gateway, '--listen', '127.0.0.1:0', '--enclaved', `127.0.0.1:${server.port}`],
    /enclave-gateway: listening on [0-9.]+:([0-9]+)\n/, path.join(dir, 'gateway.log'));
  conn = await E.Connection.open(pb, server.port);
  serverKey = await conn.publicKey();
  echo = await conn.createProcess('echo', ECHO);
  broadcast = await conn.createProcess('broadcast', fs.readFileSync(
    path.join(args['source-root'], 'userdata', 'apps', 'broadcast.lua')));
});

after(async () => {
  conn?.close();
  if (gateway) {
    assert.equal(await E.stop(gateway), 0, 'enclave-gateway exits 0 on SIGTERM');
  }
  if (server) {
    assert.equal(await E.stop(server), 0, 'enclaved exits 0 on SIGTERM');
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

// A WebSocket to the gateway, with its messages and its close as awaitables.
class Socket {
  static open(target) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${gateway.port}/${target}`,
                               { maxPayload: 4 << 20 });
      const s = new Socket(ws);
      ws.once('open', () => resolve(s));
      ws.once('error', reject);
    });
  }

  constructor(ws) {
    this.ws = ws;
    this.events = [];
    this.wake = null;
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data, isBinary) => this.push({ kind: 'data', data, isBinary }));
    ws.on('close', (code, reason) => this.push({ kind: 'closed', code, reason: reason.toString() }));
    ws.on('error', () => {});
  }

  push(ev) {
    this.events.push(ev);
    this.wake?.();
  }

  async next(timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length === 0) {
      if (Date.now() > deadline) {
        throw new Error(`no WebSocket event in ${timeoutMs} ms`);
      }
      await new Promise((r) => { this.wake = r; setTimeout(r, 100); });
    }
    return this.events.shift();
  }

  async data() {
    const ev = await this.next();
    if (ev.kind !== 'data') {
      throw new Error(`expected a message, got close ${ev.code} "${ev.reason}"`);
    }
    assert.ok(ev.isBinary, 'the gateway sends binary messages');
    return ev.data;
  }

  async closed(code, reason) {
    const ev = await this.next();
    assert.equal(ev.kind, 'closed', 'expected the WebSocket to close');
    assert.equal(ev.code, code, `close code ${ev.code} "${ev.reason}"`);
    if (reason !== undefined) {
      assert.equal(ev.reason, reason);
    }
  }

  send(data) {
    this.ws.send(data, { binary: true });
  }
}

async function openLibsignal(hash, accepted = [hash]) {
  const ws = await Socket.open(hash.toString('hex'));
  const client = HsmEnclaveClient.new(serverKey, accepted);
  ws.send(client.initialRequest());
  client.completeHandshake(await ws.data());
  return { ws, client };
}

async function channelsNk() {
  return Number((await conn.ok({ get_stats: {} })).stats.channels_nk);
}

// The server closes a vanished client's channel; wait for the count.
async function waitChannels(want) {
  const deadline = Date.now() + 15000;
  let got;
  while ((got = await channelsNk()) !== want && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(got, want, 'NK channels open on the server');
}

test('libsignal over WebSocket: handshake, attestation and every size both ways', async () => {
  const { ws, client } = await openLibsignal(echo.hash);
  for (const n of SIZES) {
    const msg = E.pattern(n, n);
    ws.send(client.establishedSend(msg));
    const back = Buffer.from(client.establishedRecv(await ws.data()));
    assert.ok(back.equals(msg), `${n}-byte message came back as ${back.length} bytes`);
  }
  ws.ws.close(1000);
  await ws.closed(1000);
});

test('broadcast: libsignal over WebSocket and the enclaved C library over TCP', async () => {
  const { ws, client } = await openLibsignal(broadcast.hash);
  const peer = new E.CPeer(args.peer, server.port, serverKey, broadcast.hash);
  try {
    await peer.opened();
    for (const n of SIZES) {
      const fromSignal = E.pattern(n, 3);
      ws.send(client.establishedSend(fromSignal));
      const got = await peer.recv();
      assert.equal(got.status, E.Status.OK, `C client receive: ${got.body}`);
      assert.ok(got.body.equals(fromSignal), `${n} bytes libsignal -> C came as ${got.body.length}`);
      const fromC = E.pattern(n, 4);
      await peer.send(fromC);
      const back = Buffer.from(client.establishedRecv(await ws.data()));
      assert.ok(back.equals(fromC), `${n} bytes C -> libsignal came as ${back.length}`);
    }
    await peer.quit();
    ws.ws.close(1000);
    await ws.closed(1000);
  } finally {
    peer.kill();
    ws.ws.terminate();
  }
});

test('a closed channel closes the WebSocket with 4000 + status and the reason', async () => {
  // The handshake is refused: PERMISSION_DENIED (7).
  const refused = await Socket.open(echo.hash.toString('hex'));
  refused.send(HsmEnclaveClient.new(serverKey, [Buffer.alloc(32, 7)]).initialRequest());
  await refused.closed(4007, 'handshake failed');
  // No process has the hash: the ChannelOpen fails NOT_FOUND (5).
  const nobody = await Socket.open('ab'.repeat(32));
  await nobody.closed(4005, 'no such process');
  // The process closes the channel: its status, "closed by the process".
  const closer = await conn.createProcess('closer',
    'function HandleChannelMessage(cid, msg) return {{cid, STATUS_ABORTED}} end\n');
  const c = await openLibsignal(closer.hash);
  c.ws.send(c.client.establishedSend(Buffer.from('bye')));
  await c.ws.closed(4010, 'closed by the process');
  // The process is destroyed: UNAVAILABLE (14).
  const doomed = await conn.createProcess('doomed', ECHO + '-- doomed\n');
  const d = await openLibsignal(doomed.hash);
  await conn.ok({ process_destroy: { process_id: doomed.pid } });
  await d.ws.closed(4014, 'process destroyed');
});

test('the gateway refuses a bad path, text messages and oversized ones', async () => {
  const bad = await Socket.open('not-a-hash');
  await bad.closed(1008);
  const signed = await Socket.open(`+${echo.hash.toString('hex').slice(1)}`);
  await signed.closed(1008);
  const text = await Socket.open(echo.hash.toString('hex'));
  text.ws.send('hello', { binary: false });
  await text.closed(1003, 'binary messages only');
  const big = await Socket.open(echo.hash.toString('hex'));
  big.send(Buffer.alloc((1 << 20) + 1));
  await big.closed(1009, 'message too large');
});

test('an unreachable enclaved closes the WebSocket with 1011', async () => {
  // A port that was just free: nothing listens there.
  const probe = await new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
  const lone = await E.spawnReady(
    [args.gateway, '--listen', '127.0.0.1:0', '--enclaved', `127.0.0.1:${probe}`],
    /enclave-gateway: listening on [0-9.]+:([0-9]+)\n/, path.join(dir, 'gateway-lone.log'));
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${lone.port}/${echo.hash.toString('hex')}`);
    const closed = await new Promise((resolve) => ws.on('close', (code, reason) =>
      resolve({ code, reason: reason.toString() })));
    assert.equal(closed.code, 1011);
    assert.equal(closed.reason, 'enclaved unreachable');
  } finally {
    assert.equal(await E.stop(lone), 0, 'the second gateway exits 0');
  }
});

test('closing the WebSocket closes the channel on the server', async () => {
  await waitChannels(0); // earlier tests' channels close asynchronously
  const before = 0;
  const { ws } = await openLibsignal(echo.hash);
  assert.equal(await channelsNk(), before + 1);
  ws.ws.close(1000);
  await ws.closed(1000);
  await waitChannels(before);
});

test('many clients at once', async () => {
  await waitChannels(0); // earlier tests' channels close asynchronously
  const before = 0;
  const n = 64;
  const clients = await Promise.all(Array.from({ length: n }, () => openLibsignal(echo.hash)));
  assert.equal(await channelsNk(), before + n);
  await Promise.all(clients.map(async ({ ws, client }, i) => {
    for (let k = 0; k < 5; k++) {
      const msg = E.pattern(100 + i * 37 + k * 1000, i + k);
      ws.send(client.establishedSend(msg));
      const back = Buffer.from(client.establishedRecv(await ws.data()));
      assert.ok(back.equals(msg), `client ${i} message ${k}`);
    }
  }));
  await Promise.all(clients.map(async ({ ws }) => {
    ws.ws.close(1000);
    await ws.closed(1000);
  }));
  await waitChannels(before);
});

test('clients that vanish mid-handshake leave nothing behind', async () => {
  await waitChannels(0); // earlier tests' channels close asynchronously
  const before = 0;
  // One sends NK message 1 and is gone before message 2; one never speaks;
  // one sends half of message 1.
  for (let round = 0; round < 10; round++) {
    const a = await Socket.open(echo.hash.toString('hex'));
    a.send(HsmEnclaveClient.new(serverKey, [echo.hash]).initialRequest());
    a.ws.terminate();
    const b = await Socket.open(echo.hash.toString('hex'));
    b.ws.terminate();
    const c = await Socket.open(echo.hash.toString('hex'));
    c.send(HsmEnclaveClient.new(serverKey, [echo.hash]).initialRequest().subarray(0, 40));
    c.ws.terminate();
  }
  await waitChannels(before);
  // The gateway and the server still serve.
  const { ws, client } = await openLibsignal(echo.hash);
  ws.send(client.establishedSend(Buffer.from('still here')));
  assert.equal(Buffer.from(client.establishedRecv(await ws.data())).toString(), 'still here');
  ws.ws.close(1000);
  await ws.closed(1000);
});

test('the strict marker works through the gateway: a cut at a chunk boundary is DATA_LOSS', async () => {
  // The marker travels inside NK message 1, which the gateway relays as
  // ciphertext; the cut stands for a hostile gateway's (the test makes it
  // before the WebSocket, the same bytes reach enclaved either way).
  const { ws, client } = await openLibsignal(echo.hash, [echo.hash, E.STRICT_MARKER]);
  ws.send(client.establishedSend(E.pattern(131039)));
  assert.equal(Buffer.from(client.establishedRecv(await ws.data())).length, 131039);
  ws.send(client.establishedSend(E.pattern(131039)).subarray(0, 2 * E.NOISE_MAX));
  await ws.closed(4015, 'decrypt failed');
});
