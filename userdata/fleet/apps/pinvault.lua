-- SPDX-License-Identifier: AGPL-3.0-or-later
-- pinvault: secrets guarded by a PIN with a bounded number of guesses,
-- replicated across a fleet of enclaved members (DESIGN §7, README "The
-- replicated PIN vault"). Clients talk to it over NK channels; members talk
-- to each other over KK channels (peer links, or KK channels relayed by a
-- fleet-key holder: any CHAN_SERVER_KK channel is a member).
--
-- Every change of a user's record (register, each guess, the reset after a
-- right PIN, the delete when guesses run out, a delete) is one slot of that
-- user's log, decided by single-decree Paxos among the members: a majority
-- (counting this member) promises, then accepts, before the client hears
-- the answer. Two members can never decide different records for the same
-- slot, so concurrent guesses through different members are all counted.
-- A member that starts empty does not vote until it has copied the state of
-- FLEET_SIZE - MAJORITY + 1 other members (so it has seen every record a
-- majority accepted). Lua has no timers: a round moves only on replies and
-- on peer channels opening or closing, and it gives up at once (UNAVAILABLE)
-- when no majority of ready members is reachable.

local FLEET_SIZE = 3   -- scripts/mkfleet rewrites this line for other sizes

local MAJORITY = FLEET_SIZE // 2 + 1
-- Others to copy from before voting; a fleet of one has nobody to ask.
local SYNC_FROM = FLEET_SIZE > 1 and FLEET_SIZE - MAJORITY + 1 or 0

-- Client requests and replies (README: op, request id, fields).
local OP_REGISTER, OP_RECOVER, OP_DELETE = 1, 2, 3
local MAX_UID, MAX_PIN, MAX_SECRET, MAX_LIMIT = 64, 256, 4096, 1000
local MAX_USERS = 100000       -- records, tombstones included
local MAX_QUEUE = 64           -- requests waiting for one user on this member
local MAX_PENDING = 4096       -- requests waiting on this member
local MAX_TRIES = 10           -- prepare attempts per request
local SYNC_BYTES = 256 * 1024   -- a SYNC_DATA message is cut after this many bytes

-- Peer messages (first byte).
local HELLO, PREPARE, PROMISE, ACCEPT, ACCEPTED, COMMIT, SYNC_REQ, SYNC_DATA, SYNC_DONE =
  1, 2, 3, 4, 5, 6, 7, 8, 9
local FORWARD, FORWARD_REPLY = 10, 11
-- Vote kinds in PROMISE / ACCEPTED.
local V_OK, V_NACK, V_AHEAD, V_NOTREADY = 0, 1, 2, 3

local me = string.unpack(">I6", enclave.random(6))  -- this run's member id
local ready = SYNC_FROM == 0
local synced, nsynced = {}, 0  -- member ids whose state we copied

local clients = {}   -- cid -> true: open NK channels
local peers = {}     -- cid -> {mid = id or nil before HELLO, ready = bool}
local by_mid = {}    -- member id -> cid
-- uid -> {slot, val = committed value of that slot, pn, pm = promised
-- ballot for slot + 1, an, am, av = accepted ballot and value for slot + 1}
local users, nusers = {}, 0
local queues = {}    -- uid -> requests, the head one active
local rounds = {}    -- attempt id -> request
local pending = 0
local next_rid, next_seq = 1, 1
-- Requests this member handed to the leader: forward id -> {cid, req, op, peer}.
local forwarded, next_fid = {}, 1
local out            -- outputs of the running hook

local function emit(cid, data)
  out[#out + 1] = {cid, data}
end

-- {========================================================= records

-- A value is the tag of the request that made it (member id, sequence)
-- and the record: "" for no user, else verifier, limit, guesses, sealed.
local function rec_pack(r)
  if r == nil then return "" end
  return string.pack(">c32I2I2s2", r.verifier, r.limit, r.guesses, r.sealed)
end

local function rec_unpack(s)
  if s == "" then return nil end
  local v, l, g, sealed = string.unpack(">c32I2I2s2", s)
  return {verifier = v, limit = l, guesses = g, sealed = sealed}
end

local function val_record(val)
  if val == "" then return nil end
  local _, _, rs = string.unpack(">I6I4s2", val)
  return rec_unpack(rs)
end

local function val_tag(val)
  if val == "" then return 0, 0 end
  local mid, seq = string.unpack(">I6I4", val)
  return mid, seq
end

local function entry(uid)
  local e = users[uid]
  if e == nil then
    e = {slot = 0, val = "", pn = 0, pm = 0, an = 0, am = 0, av = nil}
    users[uid] = e
    nusers = nusers + 1
  end
  return e
end

-- Ballots are (number, member id), compared in that order.
local function above(n1, m1, n2, m2)
  return n1 > n2 or (n1 == n2 and m1 > m2)
end

-- Learns that slot was decided with val. Values only move forward, and a
-- newer slot makes the votes for the old next slot meaningless.
local function install(e, slot, val)
  if slot > e.slot then
    e.slot, e.val = slot, val
    e.pn, e.pm, e.an, e.am, e.av = 0, 0, 0, 0, nil
  end
end

-- Constant time in the contents: every byte is compared.
local function same32(a, b)
  local d = 0
  for i = 1, 32 do
    d = d | (string.byte(a, i) ~ string.byte(b, i))
  end
  return d == 0
end

-- }=========================================================

-- {========================================================= acceptor

-- Both take the proposer's committed base (slot - 1) so a member that is
-- behind catches up first. Return the vote kind and the entry.
local function vote_prepare(uid, slot, bn, bm, bslot, bval)
  local e = entry(uid)
  install(e, bslot, bval)
  if e.slot >= slot then return V_AHEAD, e end
  if not ready then return V_NOTREADY, e end
  if above(bn, bm, e.pn, e.pm) then
    e.pn, e.pm = bn, bm
    return V_OK, e
  end
  return V_NACK, e
end

local function vote_accept(uid, slot, bn, bm, val, bslot, bval)
  local e = entry(uid)
  install(e, bslot, bval)
  if e.slot >= slot then return V_AHEAD, e end
  if not ready then return V_NOTREADY, e end
  if not above(e.pn, e.pm, bn, bm) then
    e.pn, e.pm = bn, bm
    e.an, e.am, e.av = bn, bm, val
    return V_OK, e
  end
  return V_NACK, e
end

local function vote_reply(kind_msg, rid, kind, e)
  return string.pack(">BI4BI4I6I4I6s2I4s2", kind_msg, rid, kind, e.pn, e.pm, e.an, e.am,
                     e.av or "", e.slot, e.val)
end

-- }=========================================================

-- {========================================================= proposer

local begin, drive, accept_request

local function ready_peers()
  local list = {}
  for cid, p in pairs(peers) do
    if p.mid ~= nil and p.ready then list[#list + 1] = cid end
  end
  table.sort(list)
  return list
end

local function reply(r, status, payload)
  local msg = string.pack(">BI4B", 0x80 | r.op, r.req, status) .. (payload or "")
  if r.fwd_peer ~= nil then
    if peers[r.fwd_peer] ~= nil then
      emit(r.fwd_peer, string.pack(">BI4", FORWARD_REPLY, r.fwd_id) .. msg)
    end
  elseif clients[r.cid] then
    emit(r.cid, msg)
  end
end

-- The request ends: answer it and start the next one for this user.
local function finish(r, status, payload)
  if r.rid ~= nil then rounds[r.rid] = nil end
  r.phase = nil
  reply(r, status, payload)
  pending = pending - 1
  local q = queues[r.uid]
  table.remove(q, 1)
  if #q == 0 then
    queues[r.uid] = nil
  else
    begin(q[1])
  end
end

-- What the request does to the record of the previous slot: the new
-- record, and the answer the client gets once it is decided.
local function apply(r, rec)
  if r.op == OP_REGISTER then
    return {verifier = r.verifier, limit = r.limit, guesses = 0,
            sealed = enclave.encrypt(r.secret)}, {STATUS_OK, ""}
  end
  if rec == nil then
    return nil, {STATUS_NOT_FOUND, ""}
  end
  if r.op == OP_DELETE then
    return nil, {STATUS_OK, ""}
  end
  if same32(enclave.sha256(r.pin), rec.verifier) then
    local secret = enclave.decrypt(rec.sealed)
    return {verifier = rec.verifier, limit = rec.limit, guesses = 0, sealed = rec.sealed},
           {STATUS_OK, string.pack(">s2", secret)}
  end
  local guesses = rec.guesses + 1
  if guesses >= rec.limit then
    return nil, {STATUS_PERMISSION_DENIED, string.pack(">I2", 0)}
  end
  return {verifier = rec.verifier, limit = rec.limit, guesses = guesses, sealed = rec.sealed},
         {STATUS_PERMISSION_DENIED, string.pack(">I2", rec.limit - guesses)}
end

-- Not applied, or (once our value was sent to acceptors and its slot is
-- still open) perhaps applied: UNKNOWN.
local function give_up(r, status)
  finish(r, r.exposed ~= nil and STATUS_UNKNOWN or status)
end

local function fresh_attempt(r)
  if r.rid ~= nil then rounds[r.rid] = nil end
  r.rid = next_rid
  next_rid = next_rid + 1
  rounds[r.rid] = r
  r.waiting, r.nwait, r.voters, r.votes = {}, 0, {}, 0
end

local function send_all(r, targets, msg)
  for _, cid in ipairs(targets) do
    r.waiting[cid] = true
    r.nwait = r.nwait + 1
    emit(cid, msg)
  end
end

local function commit(r)
  local e = users[r.uid]
  install(e, r.slot, r.value)
  local msg = string.pack(">Bs1I4s2", COMMIT, r.uid, r.slot, r.value)
  for cid, p in pairs(peers) do
    if p.mid ~= nil then emit(cid, msg) end
  end
  drive(r.uid)
end

local function accept_phase(r)
  local e = users[r.uid]
  if r.bav ~= nil then
    -- Paxos: finish the highest-ballot value already accepted for this
    -- slot; when it is someone else's, ours runs on the next slot.
    r.value = r.bav
  else
    local rec, result = apply(r, val_record(r.bval))
    r.result = result
    r.value = string.pack(">I6I4s2", me, r.seq, rec_pack(rec))
    r.exposed = r.slot
  end
  fresh_attempt(r)
  r.phase = "accept"
  local kind = vote_accept(r.uid, r.slot, r.bn, me, r.value, r.bslot, r.bval)
  if kind == V_OK then
    r.votes = 1
  end
  send_all(r, ready_peers(), string.pack(">BI4s1I4I4I6s2I4s2", ACCEPT, r.rid, r.uid, r.slot,
                                         r.bn, me, r.value, r.bslot, r.bval))
  if e.slot >= r.slot then return drive(r.uid) end
  if r.votes >= MAJORITY then return commit(r) end
  if r.votes + r.nwait < MAJORITY then return begin(r) end
end

local function check(r)
  if users[r.uid].slot >= r.slot then return drive(r.uid) end
  if r.votes >= MAJORITY then
    if r.phase == "prepare" then return accept_phase(r) end
    return commit(r)
  end
  if r.votes + r.nwait < MAJORITY then return begin(r) end
end

-- Starts (or restarts) the active request of a user at the slot after the
-- newest one this member knows.
begin = function(r)
  local e = users[r.uid]
  r.tries = r.tries + 1
  if r.tries > MAX_TRIES then return give_up(r, STATUS_ABORTED) end
  local targets = ready_peers()
  if not ready or #targets + 1 < MAJORITY then return give_up(r, STATUS_UNAVAILABLE) end
  fresh_attempt(r)
  r.phase = "prepare"
  r.slot, r.bslot, r.bval = e.slot + 1, e.slot, e.val
  r.bn = math.max(r.bn, r.seen, e.pn) + 1
  r.ban, r.bam, r.bav = 0, 0, nil
  local kind, e2 = vote_prepare(r.uid, r.slot, r.bn, me, r.bslot, r.bval)
  if kind == V_OK then
    r.votes = 1
    if e2.av ~= nil then r.ban, r.bam, r.bav = e2.an, e2.am, e2.av end
  end
  send_all(r, targets, string.pack(">BI4s1I4I4I6I4s2", PREPARE, r.rid, r.uid, r.slot, r.bn, me,
                                   r.bslot, r.bval))
  return check(r)
end

-- Moves the active request of uid after its slot may have been decided.
drive = function(uid)
  local q = queues[uid]
  local r = q and q[1]
  if r == nil or r.phase == nil then return end
  local e = users[uid]
  if r.exposed ~= nil and e.slot >= r.exposed then
    if e.slot > r.exposed then
      -- The slot holding our value was decided while we looked away.
      return finish(r, STATUS_UNKNOWN)
    end
    local mid, seq = val_tag(e.val)
    if mid == me and seq == r.seq then
      return finish(r, r.result[1], r.result[2])
    end
    r.exposed = nil
  end
  if e.slot >= r.slot then
    return begin(r)
  end
end

local function on_vote(cid, msg, phase)
  local _, rid, kind, pn, _, an, am, av, cslot, cval = string.unpack(">BI4BI4I6I4I6s2I4s2", msg)
  local r = rounds[rid]
  if r == nil or r.phase ~= phase or not r.waiting[cid] then return end
  r.waiting[cid] = nil
  r.nwait = r.nwait - 1
  install(users[r.uid], cslot, cval)
  if kind == V_OK then
    r.votes = r.votes + 1
    r.voters[cid] = true
    if phase == "prepare" and av ~= "" and above(an, am, r.ban, r.bam) then
      r.ban, r.bam, r.bav = an, am, av
    end
  elseif kind == V_NACK then
    r.seen = math.max(r.seen, pn)
  end
  check(r)
end

-- }=========================================================

-- {========================================================= members

local function hello()
  return string.pack(">BI6B", HELLO, me, ready and 1 or 0)
end

-- A member's channel is gone: its votes in open rounds no longer count.
local function peer_gone(cid)
  local p = peers[cid]
  peers[cid] = nil
  if p ~= nil and p.mid ~= nil and by_mid[p.mid] == cid then
    by_mid[p.mid] = nil
  end
  -- Requests the leader was running for us: it may have applied them.
  local lost = {}
  for fid, f in pairs(forwarded) do
    if f.peer == cid then lost[#lost + 1] = fid end
  end
  for _, fid in ipairs(lost) do
    local f = forwarded[fid]
    forwarded[fid] = nil
    pending = pending - 1
    if clients[f.cid] then
      emit(f.cid, string.pack(">BI4B", 0x80 | f.op, f.req, STATUS_UNKNOWN))
    end
  end
  local affected = {}
  for _, r in pairs(rounds) do
    if r.waiting[cid] or r.voters[cid] then affected[#affected + 1] = r end
  end
  for _, r in ipairs(affected) do
    if r.phase ~= nil then
      if r.waiting[cid] then
        r.waiting[cid] = nil
        r.nwait = r.nwait - 1
      end
      if r.voters[cid] then
        r.voters[cid] = nil
        r.votes = r.votes - 1
      end
      check(r)
    end
  end
end

local function send_sync(cid)
  local batch, n, bytes = {}, 0, 0
  local function flush()
    emit(cid, string.pack(">BI2", SYNC_DATA, n) .. table.concat(batch))
    batch, n, bytes = {}, 0, 0
  end
  for uid, e in pairs(users) do
    n = n + 1
    batch[n] = string.pack(">s1I4s2I4I6I4I6s2", uid, e.slot, e.val, e.pn, e.pm, e.an, e.am,
                           e.av or "")
    bytes = bytes + #batch[n]
    if bytes >= SYNC_BYTES or n == 65535 then flush() end
  end
  if n > 0 then flush() end
  emit(cid, string.pack(">B", SYNC_DONE))
end

local function merge_sync(msg)
  local count, pos = string.unpack(">I2", msg, 2)
  for _ = 1, count do
    local uid, slot, val, pn, pm, an, am, av
    uid, slot, val, pn, pm, an, am, av, pos = string.unpack(">s1I4s2I4I6I4I6s2", msg, pos)
    local e = entry(uid)
    install(e, slot, val)
    if slot == e.slot then
      -- Promises and acceptances for the open slot, so a vote this member
      -- gave before it restarted is not forgotten by the fleet.
      if above(pn, pm, e.pn, e.pm) then e.pn, e.pm = pn, pm end
      if av ~= "" and above(an, am, e.an, e.am) then e.an, e.am, e.av = an, am, av end
    end
  end
end

local function become_ready()
  ready = true
  enclave.log("pinvault: ready, state copied from " .. nsynced .. " members")
  for cid, _ in pairs(peers) do emit(cid, hello()) end
end

local function on_peer_message(cid, msg)
  local t = string.byte(msg, 1)
  local p = peers[cid]
  if t == HELLO then
    local mid, rdy = string.unpack(">I6B", msg, 2)
    local old = by_mid[mid]
    if old ~= nil and old ~= cid then
      -- A newer channel to the same member: the old one is stale.
      emit(old, STATUS_UNAVAILABLE)
      peer_gone(old)
    end
    by_mid[mid] = cid
    p.mid, p.ready = mid, rdy == 1
  elseif t == PREPARE then
    local _, rid, uid, slot, bn, bm, bslot, bval = string.unpack(">BI4s1I4I4I6I4s2", msg)
    local kind, e = vote_prepare(uid, slot, bn, bm, bslot, bval)
    emit(cid, vote_reply(PROMISE, rid, kind, e))
    drive(uid)
  elseif t == ACCEPT then
    local _, rid, uid, slot, bn, bm, val, bslot, bval = string.unpack(">BI4s1I4I4I6s2I4s2", msg)
    local kind, e = vote_accept(uid, slot, bn, bm, val, bslot, bval)
    emit(cid, vote_reply(ACCEPTED, rid, kind, e))
    drive(uid)
  elseif t == PROMISE then
    on_vote(cid, msg, "prepare")
  elseif t == ACCEPTED then
    on_vote(cid, msg, "accept")
  elseif t == COMMIT then
    local _, uid, slot, val = string.unpack(">Bs1I4s2", msg)
    install(entry(uid), slot, val)
    drive(uid)
  elseif t == FORWARD then
    local fid, pos = string.unpack(">I4", msg, 2)
    accept_request(string.sub(msg, pos), nil, cid, fid)
  elseif t == FORWARD_REPLY then
    local fid, pos = string.unpack(">I4", msg, 2)
    local f = forwarded[fid]
    if f ~= nil and f.peer == cid then
      forwarded[fid] = nil
      pending = pending - 1
      if clients[f.cid] then emit(f.cid, string.sub(msg, pos)) end
    end
  elseif t == SYNC_REQ then
    send_sync(cid)
  elseif t == SYNC_DATA then
    merge_sync(msg)
  elseif t == SYNC_DONE then
    if not ready and p.mid ~= nil and not synced[p.mid] then
      synced[p.mid] = true
      nsynced = nsynced + 1
      if nsynced >= SYNC_FROM then become_ready() end
    end
  else
    error("unknown peer message " .. tostring(t))
  end
end

-- }=========================================================

-- {========================================================= clients

-- Parses one request; raises on malformed input (the caller answers
-- INVALID_ARGUMENT).
local function parse_request(msg)
  local op, req, uid, pos = string.unpack(">BI4s1", msg)
  local r = {op = op, req = req, uid = uid}
  assert(#uid >= 1 and #uid <= MAX_UID, "bad user id")
  if op == OP_REGISTER then
    r.verifier, r.limit, r.secret, pos = string.unpack(">c32I2s2", msg, pos)
    assert(r.limit >= 1 and r.limit <= MAX_LIMIT, "bad guess limit")
    assert(#r.secret <= MAX_SECRET, "secret too long")
  elseif op == OP_RECOVER then
    r.pin, pos = string.unpack(">s1", msg, pos)
    assert(#r.pin <= MAX_PIN, "pin too long")
  elseif op ~= OP_DELETE then
    error("unknown op")
  end
  assert(pos == #msg + 1, "trailing bytes")
  return r
end

-- The leader for every user: the ready member with the lowest id this
-- member can see. One proposer per user avoids duelling ballots; members
-- that disagree for a moment (a member joining or leaving) are still safe,
-- since Paxos never needs a single proposer to be correct.
local function leader()
  local best, best_cid = me, nil
  for cid, p in pairs(peers) do
    if p.mid ~= nil and p.ready and p.mid < best then best, best_cid = p.mid, cid end
  end
  return best_cid
end

local function refuse(reply_to, fwd_id, op, req, status)
  local msg = string.pack(">BI4B", 0x80 | (op & 0x7f), req, status)
  if fwd_id ~= nil then
    emit(reply_to, string.pack(">BI4", FORWARD_REPLY, fwd_id) .. msg)
  else
    emit(reply_to, msg)
  end
end

-- A request from a client (fwd_peer nil) or one another member forwarded
-- to this member as the leader.
accept_request = function(msg, cid, fwd_peer, fwd_id)
  local reply_to = fwd_peer or cid
  local ok, r = pcall(parse_request, msg)
  if not ok then
    local op, req = 0, 0
    if #msg >= 5 then op, req = string.unpack(">BI4", msg) end
    refuse(reply_to, fwd_id, op, req, STATUS_INVALID_ARGUMENT)
    return
  end
  local q = queues[r.uid]
  if pending >= MAX_PENDING or (q ~= nil and #q >= MAX_QUEUE) or
     (users[r.uid] == nil and nusers >= MAX_USERS) then
    refuse(reply_to, fwd_id, r.op, r.req, STATUS_RESOURCE_EXHAUSTED)
    return
  end
  pending = pending + 1
  local lead = fwd_peer == nil and ready and leader() or nil
  if lead ~= nil then
    forwarded[next_fid] = {cid = cid, req = r.req, op = r.op, peer = lead}
    emit(lead, string.pack(">BI4", FORWARD, next_fid) .. msg)
    next_fid = next_fid + 1
    return
  end
  r.cid, r.fwd_peer, r.fwd_id = cid, fwd_peer, fwd_id
  entry(r.uid)
  r.seq, next_seq = next_seq, next_seq + 1
  r.tries, r.bn, r.seen = 0, 0, 0
  if q == nil then
    queues[r.uid] = {r}
    begin(r)
  else
    q[#q + 1] = r
  end
end

local function on_client_message(cid, msg)
  accept_request(msg, cid, nil, nil)
end

-- }=========================================================

function HandleChannelCreate(cid, ctype)
  out = {}
  if ctype == CHAN_SERVER_KK then
    peers[cid] = {mid = nil, ready = false}
    emit(cid, hello())
    if not ready then emit(cid, string.pack(">B", SYNC_REQ)) end
  elseif ctype == CHAN_CLIENT_NK then
    clients[cid] = true
  else
    -- Secrets never travel in plaintext.
    emit(cid, STATUS_PERMISSION_DENIED)
  end
  return out
end

function HandleChannelMessage(cid, msg)
  out = {}
  if peers[cid] ~= nil then
    on_peer_message(cid, msg)
  elseif clients[cid] then
    on_client_message(cid, msg)
  end
  return out
end

function HandleChannelClose(cid)
  out = {}
  clients[cid] = nil
  if peers[cid] ~= nil then peer_gone(cid) end
  return out
end
