// SPDX-License-Identifier: AGPL-3.0-or-later
// What the Node tests share: the optional npm packages (a clear skip line
// when scripts/node-deps could not install them), the real enclaved on
// 127.0.0.1:0, and the wire protocol of DESIGN §4 (4-byte big-endian length,
// then a protobuf frame) with bindings protobufjs builds from
// proto/enclaved.proto at run time, so nothing is shared with the C code.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

// Listed among the accepted hashes of NK message 1, asks for strict framing
// of the channel's input (DESIGN §6).
export const STRICT_MARKER = createHash('sha256')
  .update('enclaved-noise-strict-framing-v1')
  .digest();
export const CHUNK = 65519;
export const NOISE_MAX = 65535;

export const Status = {
  OK: 0, CANCELLED: 1, INVALID_ARGUMENT: 3, NOT_FOUND: 5, PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8, UNAVAILABLE: 14, DATA_LOSS: 15,
};
export const ChannelType = { RAW: 0, CLIENT_NK: 1 };

// Imports the npm packages, or prints the skip line and exits: 77 (meson's
// skip), or 1 where ENCLAVED_REQUIRE_LIBSIGNAL=1 (CI) forbids skipping.
export async function loadPackages(what, names) {
  const mods = {};
  try {
    for (const name of names) {
      mods[name] = await import(name);
    }
  } catch (e) {
    const required = process.env.ENCLAVED_REQUIRE_LIBSIGNAL === '1';
    console.log(`${what}: SKIP: npm packages not installed (${e.code || e.message}); ` +
                'run scripts/node-deps with the npm registry reachable' +
                (required ? ' -- and ENCLAVED_REQUIRE_LIBSIGNAL=1 makes this a failure' : ''));
    process.exit(required ? 1 : 77);
  }
  return mods;
}

export function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || i + 1 >= argv.length) {
      throw new Error(`bad argument ${argv[i]}`);
    }
    out[argv[i].slice(2)] = argv[i + 1];
  }
  return out;
}

export function tempDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'enclaved-node-'));
}

// A process that prints "NAME: listening on ADDR:PORT" once ready.
export async function spawnReady(argv, pattern, logPath, timeoutMs = 10000) {
  const log = fs.openSync(logPath, 'w');
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const m = pattern.exec(fs.readFileSync(logPath, 'utf8'));
    if (m) {
      return { child, port: Number(m[1]), logPath };
    }
    if (child.exitCode !== null) {
      throw new Error(`${argv[0]} exited ${child.exitCode}:\n${fs.readFileSync(logPath, 'utf8')}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill('SIGKILL');
  throw new Error(`${argv[0]} printed no ready line in ${timeoutMs} ms`);
}

export function startServer(binary, io, dir, extra = []) {
  // scripts/cross-ppc runs the suite against the ppc server under qemu.
  binary = process.env.ENCLAVED_TEST_SERVER || binary;
  return spawnReady([binary, '--listen', '127.0.0.1:0', '--io', io, '--ephemeral-keys', ...extra],
                    /enclaved: listening on [0-9.]+:([0-9]+)\n/,
                    path.join(dir, `enclaved-${io}.log`));
}

// SIGTERM and wait; resolves to the exit code.
export function stop(proc) {
  return new Promise((resolve) => {
    if (proc.child.exitCode !== null) {
      resolve(proc.child.exitCode);
      return;
    }
    const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10000);
    proc.child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    proc.child.kill('SIGTERM');
  });
}

export async function loadProto(protobuf, protoPath) {
  const root = await new protobuf.Root().load(protoPath, { keepCase: true });
  return {
    ClientFrame: root.lookupType('enclaved.ClientFrame'),
    ServerFrame: root.lookupType('enclaved.ServerFrame'),
  };
}

// A queue of channel events with waiters, per channel id.
class Events {
  constructor() {
    this.items = [];
    this.waiters = [];
  }

  push(ev) {
    const w = this.waiters.shift();
    if (w) {
      w(ev);
    } else {
      this.items.push(ev);
    }
  }

  next(timeoutMs, what) {
    if (this.items.length > 0) {
      return Promise.resolve(this.items.shift());
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(done), 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const done = (ev) => {
        clearTimeout(timer);
        resolve(ev);
      };
      this.waiters.push(done);
    });
  }
}

// One TCP connection to enclaved, speaking DESIGN §4 frames.
export class Connection {
  static open(pb, port) {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.once('error', reject);
      sock.once('connect', () => {
        sock.removeListener('error', reject);
        resolve(new Connection(pb, sock));
      });
    });
  }

  constructor(pb, sock) {
    this.pb = pb;
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.nextId = 1;
    this.pending = new Map();
    this.channels = new Map();
    this.closed = false;
    sock.setNoDelay(true);
    sock.on('data', (d) => this.onData(d));
    sock.on('error', () => {});
    sock.on('close', () => {
      this.closed = true;
      for (const [, p] of this.pending) {
        p.reject(new Error('connection closed'));
      }
      this.pending.clear();
      for (const [, ev] of this.channels) {
        ev.push({ kind: 'gone' });
      }
    });
  }

  events(cid) {
    if (!this.channels.has(cid)) {
      this.channels.set(cid, new Events());
    }
    return this.channels.get(cid);
  }

  onData(d) {
    this.buf = Buffer.concat([this.buf, d]);
    while (this.buf.length >= 4) {
      const n = this.buf.readUInt32BE(0);
      if (this.buf.length < 4 + n) {
        return;
      }
      const f = this.pb.ServerFrame.decode(this.buf.subarray(4, 4 + n));
      this.buf = this.buf.subarray(4 + n);
      if (f.response) {
        const id = Number(f.response.id);
        const p = this.pending.get(id);
        this.pending.delete(id);
        if (p) {
          p.resolve(f.response);
        }
      } else if (f.channel_data) {
        this.events(f.channel_data.channel_id).push({
          kind: 'data', data: Buffer.from(f.channel_data.data),
        });
      } else if (f.channel_closed) {
        this.events(f.channel_closed.channel_id).push({
          kind: 'closed', status: f.channel_closed.status, reason: f.channel_closed.reason,
        });
      }
    }
  }

  write(frame) {
    const body = this.pb.ClientFrame.encode(this.pb.ClientFrame.create(frame)).finish();
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length);
    this.sock.write(Buffer.concat([head, body]));
  }

  request(body, timeoutMs = 10000) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no Response to request ${id} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (r) => { clearTimeout(timer); resolve(r); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.write({ request: { id, ...body } });
    });
  }

  async ok(body) {
    const r = await this.request(body);
    if (r.status !== Status.OK) {
      throw new Error(`request ${Object.keys(body)[0]} failed: status ${r.status} ${r.message}`);
    }
    return r;
  }

  async publicKey() {
    return Buffer.from((await this.ok({ get_info: {} })).info.public_key);
  }

  async createProcess(name, source) {
    const r = await this.ok({ process_create: { name, lua_source: Buffer.from(source) } });
    return { pid: r.process_created.process_id, hash: Buffer.from(r.process_created.code_hash) };
  }

  async openChannel(type, target) {
    const r = await this.ok({ channel_open: { type, ...target } });
    return r.channel_opened.channel_id;
  }

  sendData(cid, data) {
    this.write({ channel_data: { channel_id: cid, data } });
  }

  sendClose(cid) {
    this.write({ channel_close: { channel_id: cid } });
  }

  next(cid, timeoutMs = 10000) {
    return this.events(cid).next(timeoutMs, `an event on channel ${cid}`);
  }

  async expectData(cid, timeoutMs) {
    const ev = await this.next(cid, timeoutMs);
    if (ev.kind !== 'data') {
      throw new Error(`channel ${cid}: expected ChannelData, got ${JSON.stringify(ev)}`);
    }
    return ev.data;
  }

  close() {
    this.sock.destroy();
  }
}

// Deterministic bytes of a given size: a message that is easy to check.
export function pattern(n, seed = 0) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    b[i] = (i * 131 + seed * 7 + (i >> 8)) & 0xff;
  }
  return b;
}

// The enclaved C-library client, driven through nk_peer's stdin/stdout.
export class CPeer {
  constructor(binary, port, serverKey, hash) {
    this.child = spawn(binary, ['127.0.0.1', String(port), serverKey.toString('hex'),
                                hash.toString('hex')], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.buf = Buffer.alloc(0);
    this.wake = null;
    this.child.stdout.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake?.();
    });
    this.child.stdout.on('end', () => {
      this.ended = true;
      this.wake?.();
    });
  }

  async take(n) {
    const deadline = Date.now() + 20000;
    while (this.buf.length < n) {
      if (this.ended || Date.now() > deadline) {
        throw new Error(`nk_peer ended or stalled (${this.buf.length} of ${n} bytes)`);
      }
      await new Promise((r) => { this.wake = r; setTimeout(r, 200); });
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  async opened() {
    const line = (await this.take(5)).toString();
    if (line !== 'open\n') {
      throw new Error(`nk_peer did not open its channel: ${JSON.stringify(line)}`);
    }
  }

  async answer() {
    const head = await this.take(5);
    const body = await this.take(head.readUInt32BE(1));
    return { status: head[0], body: Buffer.from(body) };
  }

  async send(msg) {
    const head = Buffer.alloc(5);
    head[0] = 's'.charCodeAt(0);
    head.writeUInt32BE(msg.length, 1);
    this.child.stdin.write(Buffer.concat([head, msg]));
    const a = await this.answer();
    if (a.status !== Status.OK) {
      throw new Error(`nk_peer send failed: ${a.status} ${a.body}`);
    }
  }

  recv() {
    this.child.stdin.write('r');
    return this.answer();
  }

  kill() {
    if (this.child.exitCode === null) {
      this.child.kill('SIGKILL');
    }
  }

  async quit() {
    this.child.stdin.write('q');
    const code = await new Promise((r) => this.child.once('exit', r));
    if (code !== 0) {
      throw new Error(`nk_peer exited ${code}`);
    }
  }
}
