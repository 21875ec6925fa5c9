// SPDX-License-Identifier: AGPL-3.0-or-later
// Benchmark (prints numbers, never fails on them): NK channel lifecycles per
// second with libsignal's client, directly over TCP and through
// enclave-gateway, against one enclaved started here. One lifecycle = open a
// CLIENT_NK channel, libsignal handshake with attestation, one 64-byte echo,
// close. Modes:
//   tcp-shared   every worker keeps one TCP connection and opens channels on it
//   tcp-conn     a new TCP connection per lifecycle
//   gateway      a new WebSocket per lifecycle (the gateway opens a TCP
//                connection to enclaved per WebSocket)
//
// usage: node lifecycle-bench.mjs --server ENCLAVED --gateway GATEWAY --proto PROTO
//            [--io uv|poll] [--workers 16] [--seconds 5] [--rounds 3]

import fs from 'node:fs';
import path from 'node:path';

import * as E from './enclaved.mjs';

const args = E.parseArgs(process.argv.slice(2));
const mods = await E.loadPackages('lifecycle-bench',
                                  ['@signalapp/libsignal-client', 'protobufjs', 'ws']);
const { HsmEnclaveClient } = mods['@signalapp/libsignal-client'];
const protobuf = mods.protobufjs.default;
const WebSocket = mods.ws.default;
const workers = Number(args.workers || 16);
const seconds = Number(args.seconds || 5);
const io = args.io || 'uv';

const ECHO = 'function HandleChannelMessage(cid, msg) return {{cid, msg}} end\n';
const dir = E.tempDir();
const pb = await E.loadProto(protobuf, args.proto);
const server = await E.startServer(args.server, io, dir, ['--log-level', 'warn']);
const gateway = await E.spawnReady(
  [args.gateway, '--listen', '127.0.0.1:0', '--enclaved', `127.0.0.1:${server.port}`],
  /enclave-gateway: listening on [0-9.]+:([0-9]+)\n/, path.join(dir, 'gateway.log'));
const admin = await E.Connection.open(pb, server.port);
const serverKey = await admin.publicKey();
const { hash } = await admin.createProcess('echo', ECHO);
const msg = Buffer.alloc(64, 0x61);

async function lifecycleOnConnection(conn) {
  const cid = await conn.openChannel(E.ChannelType.CLIENT_NK, { code_hash: hash });
  const client = HsmEnclaveClient.new(serverKey, [hash]);
  conn.sendData(cid, client.initialRequest());
  client.completeHandshake(await conn.expectData(cid));
  conn.sendData(cid, client.establishedSend(msg));
  if (Buffer.from(client.establishedRecv(await conn.expectData(cid))).length !== msg.length) {
    throw new Error('bad echo');
  }
  conn.sendClose(cid);
  const ev = await conn.next(cid);
  if (ev.kind !== 'closed') {
    throw new Error('expected ChannelClosed');
  }
  conn.channels.delete(cid);
}

function lifecycleGateway() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gateway.port}/${hash.toString('hex')}`);
    const client = HsmEnclaveClient.new(serverKey, [hash]);
    let step = 0;
    ws.binaryType = 'nodebuffer';
    ws.on('open', () => ws.send(client.initialRequest()));
    ws.on('message', (data) => {
      if (step === 0) {
        client.completeHandshake(data);
        ws.send(client.establishedSend(msg));
        step = 1;
      } else {
        client.establishedRecv(data);
        step = 2;
        ws.close(1000);
      }
    });
    ws.on('close', () => (step === 2 ? resolve() : reject(new Error('closed early'))));
    ws.on('error', reject);
  });
}

// utime + stime of a child, in seconds (Linux /proc; 0 elsewhere).
function cpuSeconds(child) {
  try {
    const stat = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

async function run(mode) {
  const deadline = Date.now() + seconds * 1000;
  let done = 0;
  const cpu0 = [cpuSeconds(server.child), cpuSeconds(gateway.child), process.cpuUsage()];
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: workers }, async () => {
    const shared = mode === 'tcp-shared' ? await E.Connection.open(pb, server.port) : null;
    while (Date.now() < deadline) {
      if (mode === 'tcp-shared') {
        await lifecycleOnConnection(shared);
      } else if (mode === 'tcp-conn') {
        const c = await E.Connection.open(pb, server.port);
        await lifecycleOnConnection(c);
        c.close();
      } else {
        await lifecycleGateway();
      }
      done++;
    }
    shared?.close();
  }));
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  const us = (x) => (x * 1e6 / done).toFixed(0);
  const client = process.cpuUsage(cpu0[2]);
  console.log(`${mode.padEnd(10)} io=${io} workers=${workers}: ${done} lifecycles in ` +
              `${secs.toFixed(2)} s = ${(done / secs).toFixed(0)} /s; CPU us per lifecycle: ` +
              `enclaved ${us(cpuSeconds(server.child) - cpu0[0])}, ` +
              `gateway ${us(cpuSeconds(gateway.child) - cpu0[1])}, ` +
              `node client ${us((client.user + client.system) / 1e6)}`);
  return done / secs;
}

// The modes take turns, so drift in a shared machine's speed hits each alike;
// the medians are the figures to quote.
const rounds = Number(args.rounds || 3);
const rates = { 'tcp-shared': [], 'tcp-conn': [], gateway: [] };
for (let r = 0; r < rounds; r++) {
  for (const mode of Object.keys(rates)) {
    rates[mode].push(await run(mode));
  }
}
for (const [mode, list] of Object.entries(rates)) {
  const sorted = [...list].sort((a, b) => a - b);
  console.log(`median ${mode.padEnd(10)}: ${sorted[Math.floor(sorted.length / 2)].toFixed(0)} /s ` +
              `(min ${sorted[0].toFixed(0)}, max ${sorted[sorted.length - 1].toFixed(0)})`);
}
admin.close();
await E.stop(gateway);
await E.stop(server);
