/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Writes the seeds of the session, noise, hook_output and seal corpora (run by
 * scripts/fuzz-seeds): protocol transcripts a real client would send,
 * handshake messages from real peers, and hook output programs. Every
 * ephemeral key comes from a fixed seed, so each run writes the same bytes.
 * usage: fuzz-seedgen CORPUS_ROOT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "enclaved.pb-c.h"
#include "crypto/seal.h"
#include "fixtures.h"
#include "wire/frame.h"

static const char *root;
static size_t written;

static void write_seed(const char *target, const char *name, const uint8_t *data, size_t len)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s/seed-%s", root, target, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(EXIT_FAILURE);
    }
    written++;
}

/* {==================================================== session transcripts */

struct buf {
    uint8_t *data;
    size_t len, cap;
};

static void put(struct buf *b, const void *data, size_t len)
{
    if (b->len + len > b->cap) {
        b->cap = (b->len + len) * 2;
        b->data = realloc(b->data, b->cap);
        ENCLAVED_ASSERT(b->data != NULL);
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void start(struct buf *b, uint8_t flags, uint8_t s0, uint8_t s1, uint8_t s2)
{
    uint8_t h[FX_SESSION_HEADER] = {flags, s0, s1, s2};
    b->len = 0;
    put(b, h, sizeof(h));
}

static void put_frame(struct buf *b, const Enclaved__ClientFrame *f)
{
    size_t n = enclaved__client_frame__get_packed_size(f);
    uint8_t *body = malloc(n + FRAME_HEADER_LEN);

    ENCLAVED_ASSERT(body != NULL);
    frame_write_length(body, (uint32_t)n);
    enclaved__client_frame__pack(f, body + FRAME_HEADER_LEN);
    put(b, body, n + FRAME_HEADER_LEN);
    free(body);
}

static void put_request(struct buf *b, Enclaved__Request *req)
{
    Enclaved__ClientFrame f = ENCLAVED__CLIENT_FRAME__INIT;
    f.kind_case = ENCLAVED__CLIENT_FRAME__KIND_REQUEST;
    f.request = req;
    put_frame(b, &f);
}

/* One request with an empty body of the given kind (Ping, GetInfo, ...). */
static void put_simple(struct buf *b, uint64_t id, Enclaved__Request__BodyCase kind)
{
    static Enclaved__Ping ping = ENCLAVED__PING__INIT;
    static Enclaved__GetInfo info = ENCLAVED__GET_INFO__INIT;
    static Enclaved__GetStats stats = ENCLAVED__GET_STATS__INIT;
    static Enclaved__ProcessList list = ENCLAVED__PROCESS_LIST__INIT;
    static Enclaved__Reset reset = ENCLAVED__RESET__INIT;
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;

    req.id = id;
    req.body_case = kind;
    switch (kind) {
    case ENCLAVED__REQUEST__BODY_PING: req.ping = &ping; break;
    case ENCLAVED__REQUEST__BODY_GET_INFO: req.get_info = &info; break;
    case ENCLAVED__REQUEST__BODY_GET_STATS: req.get_stats = &stats; break;
    case ENCLAVED__REQUEST__BODY_PROCESS_LIST: req.process_list = &list; break;
    case ENCLAVED__REQUEST__BODY_RESET: req.reset = &reset; break;
    default: break;
    }
    put_request(b, &req);
}

static void put_create(struct buf *b, uint64_t id, const char *name, const char *src,
                       uint64_t memory_limit)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ProcessCreate c = ENCLAVED__PROCESS_CREATE__INIT;

    c.lua_source.data = (uint8_t *)src;
    c.lua_source.len = strlen(src);
    c.name = (char *)name;
    c.memory_limit = memory_limit;
    req.id = id;
    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_CREATE;
    req.process_create = &c;
    put_request(b, &req);
}

/* hash NULL: by process id. */
static void put_destroy(struct buf *b, uint64_t id, uint32_t pid, const uint8_t *hash)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ProcessDestroy d = ENCLAVED__PROCESS_DESTROY__INIT;

    if (hash != NULL) {
        d.target_case = ENCLAVED__PROCESS_DESTROY__TARGET_CODE_HASH;
        d.code_hash.data = (uint8_t *)hash;
        d.code_hash.len = 32;
    } else {
        d.target_case = ENCLAVED__PROCESS_DESTROY__TARGET_PROCESS_ID;
        d.process_id = pid;
    }
    req.id = id;
    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_DESTROY;
    req.process_destroy = &d;
    put_request(b, &req);
}

static void put_open(struct buf *b, uint64_t id, uint32_t pid, const uint8_t *hash,
                     Enclaved__ChannelType type)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ChannelOpen o = ENCLAVED__CHANNEL_OPEN__INIT;

    if (hash != NULL) {
        o.target_case = ENCLAVED__CHANNEL_OPEN__TARGET_CODE_HASH;
        o.code_hash.data = (uint8_t *)hash;
        o.code_hash.len = 32;
    } else {
        o.target_case = ENCLAVED__CHANNEL_OPEN__TARGET_PROCESS_ID;
        o.process_id = pid;
    }
    o.type = type;
    req.id = id;
    req.body_case = ENCLAVED__REQUEST__BODY_CHANNEL_OPEN;
    req.channel_open = &o;
    put_request(b, &req);
}

static void put_data(struct buf *b, uint32_t cid, const uint8_t *data, size_t len)
{
    Enclaved__ClientFrame f = ENCLAVED__CLIENT_FRAME__INIT;
    Enclaved__ChannelData d = ENCLAVED__CHANNEL_DATA__INIT;

    d.channel_id = cid;
    d.data.data = (uint8_t *)data;
    d.data.len = len;
    f.kind_case = ENCLAVED__CLIENT_FRAME__KIND_CHANNEL_DATA;
    f.channel_data = &d;
    put_frame(b, &f);
}

static void put_close(struct buf *b, uint32_t cid)
{
    Enclaved__ClientFrame f = ENCLAVED__CLIENT_FRAME__INIT;
    Enclaved__ChannelClose c = ENCLAVED__CHANNEL_CLOSE__INIT;

    c.channel_id = cid;
    f.kind_case = ENCLAVED__CLIENT_FRAME__KIND_CHANNEL_CLOSE;
    f.channel_close = &c;
    put_frame(b, &f);
}

/* Message 1 of a handshake to the server key: NK from an anonymous client,
 * or KK from a fleet peer (which holds the server key itself). */
static size_t handshake_m1(enum noise_pattern pattern, uint64_t seed, const uint8_t *payload,
                           size_t payload_len, uint8_t *out, size_t cap)
{
    struct keystore *server = fx_keystore(FX_SERVER_KEY_BYTE);
    struct fx_rng rng = {seed};
    struct noise_handshake *hs = NULL;
    size_t len = 0;

    ENCLAVED_ASSERT(noise_handshake_new(pattern, NOISE_ROLE_INITIATOR,
                                        pattern == NOISE_PATTERN_KK ? server : NULL,
                                        keystore_public_key(server), NULL, 0, fx_rng_bytes, &rng,
                                        &hs) == STATUS_OK);
    ENCLAVED_ASSERT(noise_handshake_write_message(hs, payload, payload_len, out, cap, &len) ==
                    STATUS_OK);
    noise_handshake_free(hs);
    keystore_free(server);
    return len;
}

static void session_seeds(void)
{
    static const char small_app[] = "function HandleChannelMessage(c, m) return {{c, m .. m}} end\n";
    static const char bad_app[] = "while true do end\n";
    uint8_t echo_hash[32], small_hash[32], m1[2048], junk[64], two_hashes[64];
    struct buf b = {0};
    size_t n;
    uint8_t *big;

    mbedtls_sha256((const uint8_t *)fx_echo_app, strlen(fx_echo_app), echo_hash, 0);
    mbedtls_sha256((const uint8_t *)small_app, strlen(small_app), small_hash, 0);
    memset(junk, 0xa5, sizeof(junk));

    start(&b, 0, 0, 0, 0);
    put_simple(&b, 1, ENCLAVED__REQUEST__BODY_PING);
    put_simple(&b, 2, ENCLAVED__REQUEST__BODY_GET_INFO);
    put_simple(&b, 3, ENCLAVED__REQUEST__BODY_GET_STATS);
    write_seed("session", "info", b.data, b.len);

    start(&b, 0, 0, 0, 0);
    put_create(&b, 1, "small", small_app, 0);
    put_simple(&b, 2, ENCLAVED__REQUEST__BODY_PROCESS_LIST);
    put_create(&b, 3, "loop", bad_app, 0);
    put_create(&b, 4, "big", small_app, 1ull << 40);
    put_destroy(&b, 5, 2, NULL);
    put_destroy(&b, 6, 0, echo_hash);
    put_destroy(&b, 7, 99, NULL);
    put_simple(&b, 8, ENCLAVED__REQUEST__BODY_PROCESS_LIST);
    write_seed("session", "processes", b.data, b.len);

    /* Raw channel: hello on open, echo, Lua close, client close, then data
     * for a channel it no longer has. */
    start(&b, 0, 7, 0, 0);
    put_open(&b, 1, 1, NULL, ENCLAVED__CHANNEL_TYPE__RAW);
    put_data(&b, 1, (const uint8_t *)"hi", 2);
    put_data(&b, 1, NULL, 0);
    put_close(&b, 1);
    put_data(&b, 1, (const uint8_t *)"late", 4);
    put_open(&b, 2, 0, echo_hash, ENCLAVED__CHANNEL_TYPE__RAW);
    put_data(&b, 2, (const uint8_t *)"close", 5);
    put_close(&b, 2);
    put_close(&b, 77);
    write_seed("session", "raw-channel", b.data, b.len);

    /* NK: message 1 attesting the echo app, then a transport message the
     * server cannot open (the client cannot know its ephemeral here). */
    start(&b, 0, 0, 0, 0);
    put_open(&b, 1, 0, echo_hash, ENCLAVED__CHANNEL_TYPE__CLIENT_NK);
    n = handshake_m1(NOISE_PATTERN_NK, 1, echo_hash, 32, m1, sizeof(m1));
    put_data(&b, 1, m1, n);
    put_data(&b, 1, junk, 32);
    put_open(&b, 2, 1, NULL, ENCLAVED__CHANNEL_TYPE__CLIENT_NK);
    put_close(&b, 2);
    write_seed("session", "nk-channel", b.data, b.len);

    /* NK refusals: wrong hash list, bad message, a pending one timed out. */
    start(&b, FX_SESSION_EXPIRE, 0, 0, 0);
    put_open(&b, 1, 1, NULL, ENCLAVED__CHANNEL_TYPE__CLIENT_NK);
    memcpy(two_hashes, small_hash, 32);
    memcpy(two_hashes + 32, echo_hash, 32);
    n = handshake_m1(NOISE_PATTERN_NK, 2, two_hashes, 64, m1, sizeof(m1));
    put_data(&b, 1, m1, n);
    put_open(&b, 2, 1, NULL, ENCLAVED__CHANNEL_TYPE__CLIENT_NK);
    n = handshake_m1(NOISE_PATTERN_NK, 3, small_hash, 32, m1, sizeof(m1));
    put_data(&b, 2, m1, n);
    put_open(&b, 3, 1, NULL, ENCLAVED__CHANNEL_TYPE__CLIENT_NK);
    put_data(&b, 3, junk, 47);
    put_open(&b, 4, 1, NULL, ENCLAVED__CHANNEL_TYPE__CLIENT_NK);
    write_seed("session", "nk-refused", b.data, b.len);

    /* KK both ways with the fleet key. */
    start(&b, FX_SESSION_EXPIRE, 0, 0, 0);
    put_open(&b, 1, 1, NULL, ENCLAVED__CHANNEL_TYPE__SERVER_KK_RESPONDER);
    n = handshake_m1(NOISE_PATTERN_KK, 4, echo_hash, 32, m1, sizeof(m1));
    put_data(&b, 1, m1, n);
    put_data(&b, 1, junk, 17);
    put_open(&b, 2, 1, NULL, ENCLAVED__CHANNEL_TYPE__SERVER_KK_INITIATOR);
    put_data(&b, 2, junk, 48 + 32);
    put_open(&b, 3, 1, NULL, ENCLAVED__CHANNEL_TYPE__SERVER_KK_INITIATOR);
    put_open(&b, 4, 1, NULL, (Enclaved__ChannelType)9);
    write_seed("session", "kk-channel", b.data, b.len);

    /* Everything, read a few bytes at a time, ending in Reset. */
    start(&b, 0, 1, 5, 13);
    put_simple(&b, 1, ENCLAVED__REQUEST__BODY_PING);
    put_open(&b, 2, 1, NULL, ENCLAVED__CHANNEL_TYPE__RAW);
    put_data(&b, 1, (const uint8_t *)"split", 5);
    put_create(&b, 3, "small", small_app, 0);
    put_open(&b, 4, 2, NULL, ENCLAVED__CHANNEL_TYPE__RAW);
    put_data(&b, 2, (const uint8_t *)"twice", 5);
    put_open(&b, 5, 1, NULL, ENCLAVED__CHANNEL_TYPE__CLIENT_NK);
    put_simple(&b, 6, ENCLAVED__REQUEST__BODY_GET_STATS);
    put_simple(&b, 7, ENCLAVED__REQUEST__BODY_RESET);
    put_data(&b, 1, (const uint8_t *)"gone", 4);
    put_simple(&b, 8, ENCLAVED__REQUEST__BODY_PROCESS_LIST);
    write_seed("session", "split-reset", b.data, b.len);

    /* Backpressure: a lazy reader and 12 KiB messages doubled by the small
     * app pass the soft output bound, so input pauses and resumes. */
    start(&b, FX_SESSION_LAZY, 0, 0, 0);
    put_create(&b, 1, "small", small_app, 0);
    put_open(&b, 2, 2, NULL, ENCLAVED__CHANNEL_TYPE__RAW);
    big = calloc(1, 16 * 1024 + 1);
    ENCLAVED_ASSERT(big != NULL);
    for (int i = 0; i < 12; i++) {
        put_data(&b, 1, big, 12 * 1024);
    }
    put_data(&b, 1, big, 16 * 1024 + 1);   /* doubled, over max_message: hook error */
    put_simple(&b, 3, ENCLAVED__REQUEST__BODY_PING);
    free(big);
    write_seed("session", "backpressure", b.data, b.len);

    /* Framing and decoding errors: unknown request field, PeerConnect,
     * no body, no kind, garbage, then a zero length that closes. */
    {
        static const uint8_t unknown[] = {0, 0, 0, 6, 0x0a, 0x04, 0x08, 0x09, 0x68, 0x00};
        static const uint8_t peer[] = {0, 0, 0, 6, 0x0a, 0x04, 0x08, 0x0a, 0x52, 0x00};
        static const uint8_t nobody[] = {0, 0, 0, 4, 0x0a, 0x02, 0x08, 0x0b};
        static const uint8_t nokind[] = {0, 0, 0, 2, 0x20, 0x01};
        static const uint8_t garbage[] = {0, 0, 0, 3, 0xff, 0xff, 0xff};
        static const uint8_t empty[] = {0, 0, 0, 0};
        static const uint8_t huge[] = {0, 1, 0, 1};

        start(&b, 0, 0, 0, 0);
        put(&b, unknown, sizeof(unknown));
        put(&b, peer, sizeof(peer));
        put(&b, nobody, sizeof(nobody));
        put(&b, nokind, sizeof(nokind));
        put(&b, garbage, sizeof(garbage));
        put(&b, empty, sizeof(empty));
        write_seed("session", "bad-frames", b.data, b.len);
        start(&b, 0, 2, 0, 0);
        put_simple(&b, 1, ENCLAVED__REQUEST__BODY_PING);
        put(&b, huge, sizeof(huge));
        write_seed("session", "frame-too-large", b.data, b.len);
    }
    free(b.data);
}

/* ==================================================== session transcripts }
 * {============================================================ noise */

static void noise_seed(const char *name, uint8_t mode, uint64_t seed, const uint8_t *rest,
                       size_t len)
{
    uint8_t *in = malloc(FX_NOISE_HEADER + len);

    ENCLAVED_ASSERT(in != NULL);
    in[0] = mode;
    for (int i = 0; i < 8; i++) {
        in[1 + i] = (uint8_t)(seed >> (8 * i));
    }
    if (len > 0) {
        memcpy(in + FX_NOISE_HEADER, rest, len);
    }
    write_seed("noise", name, in, FX_NOISE_HEADER + len);
    free(in);
}

static void noise_seeds(void)
{
    struct keystore *server = fx_keystore(FX_SERVER_KEY_BYTE);
    struct keystore *peer = fx_keystore(FX_PEER_KEY_BYTE);
    struct noise_handshake *init = NULL, *resp = NULL;
    struct noise_transport client_t, server_t;
    uint8_t msg[256], pl[64], hash[32];
    size_t n = 0, pl_len = 0;
    struct fx_rng rng = {5};
    static const size_t plain[] = {0, 5, NOISE_MAX_CHUNK_PLAINTEXT, NOISE_MAX_CHUNK_PLAINTEXT + 1};
    static const char *plain_names[] = {"decrypt-0", "decrypt-5", "decrypt-chunk",
                                        "decrypt-chunk-plus-1"};

    memset(hash, 0x5c, sizeof(hash));
    /* NK message 1 with a hash payload, with none, and cut short. */
    ENCLAVED_ASSERT(noise_handshake_new(NOISE_PATTERN_NK, NOISE_ROLE_INITIATOR, NULL,
                                        keystore_public_key(server), NULL, 0, fx_rng_bytes, &rng,
                                        &init) == STATUS_OK);
    ENCLAVED_ASSERT(noise_handshake_write_message(init, hash, 32, msg, sizeof(msg), &n) ==
                    STATUS_OK);
    noise_handshake_free(init);
    noise_seed("nk-m1", FX_NOISE_NK_RESPONDER, 1, msg, n);
    noise_seed("nk-m1-short", FX_NOISE_NK_RESPONDER, 1, msg, 47);
    ENCLAVED_ASSERT(noise_handshake_new(NOISE_PATTERN_NK, NOISE_ROLE_INITIATOR, NULL,
                                        keystore_public_key(server), NULL, 0, fx_rng_bytes, &rng,
                                        &init) == STATUS_OK);
    ENCLAVED_ASSERT(noise_handshake_write_message(init, NULL, 0, msg, sizeof(msg), &n) ==
                    STATUS_OK);
    noise_handshake_free(init);
    noise_seed("nk-m1-empty", FX_NOISE_NK_RESPONDER, 1, msg, n);
    memset(msg, 0, 48);   /* the all-zero key is low order */
    noise_seed("nk-m1-zero-key", FX_NOISE_NK_RESPONDER, 1, msg, 48);

    /* KK message 1 from the peer key to the server. */
    ENCLAVED_ASSERT(noise_handshake_new(NOISE_PATTERN_KK, NOISE_ROLE_INITIATOR, peer,
                                        keystore_public_key(server), NULL, 0, fx_rng_bytes, &rng,
                                        &init) == STATUS_OK);
    ENCLAVED_ASSERT(noise_handshake_write_message(init, hash, 32, msg, sizeof(msg), &n) ==
                    STATUS_OK);
    noise_handshake_free(init);
    noise_seed("kk-m1", FX_NOISE_KK_RESPONDER, 2, msg, n);

    /* KK message 2 for the target's initiator: rebuild it from the same seed
     * (empty payload, as the target writes), answer as the server. */
    {
        struct fx_rng same = {3};
        ENCLAVED_ASSERT(noise_handshake_new(NOISE_PATTERN_KK, NOISE_ROLE_INITIATOR, peer,
                                            keystore_public_key(server), NULL, 0, fx_rng_bytes,
                                            &same, &init) == STATUS_OK);
    }
    ENCLAVED_ASSERT(noise_handshake_new(NOISE_PATTERN_KK, NOISE_ROLE_RESPONDER, server,
                                        keystore_public_key(peer), NULL, 0, fx_rng_bytes, &rng,
                                        &resp) == STATUS_OK);
    ENCLAVED_ASSERT(noise_handshake_write_message(init, NULL, 0, msg, sizeof(msg), &n) ==
                    STATUS_OK);
    ENCLAVED_ASSERT(noise_handshake_read_message(resp, msg, n, pl, sizeof(pl), &pl_len) ==
                    STATUS_OK);
    ENCLAVED_ASSERT(noise_handshake_write_message(resp, hash, 32, msg, sizeof(msg), &n) ==
                    STATUS_OK);
    noise_handshake_free(init);
    noise_handshake_free(resp);
    noise_seed("kk-m2", FX_NOISE_KK_INITIATOR, 3, msg, n);
    msg[n - 1] ^= 1;
    noise_seed("kk-m2-bad-tag", FX_NOISE_KK_INITIATOR, 3, msg, n);

    /* Transport messages the target's server side can open: same seed, same
     * handshake (fx_nk_pair), sealed by the client. */
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        struct fx_rng same = {4};
        size_t len = noise_transport_sealed_len(plain[i]);
        uint8_t *pt = calloc(1, plain[i] + 1), *ct = malloc(len);

        ENCLAVED_ASSERT(pt != NULL && ct != NULL);
        fx_nk_pair(&same, server, &client_t, &server_t);
        ENCLAVED_ASSERT(noise_transport_encrypt(&client_t, pt, plain[i], ct, len, &n) ==
                        STATUS_OK);
        noise_seed(plain_names[i], FX_NOISE_DECRYPT, 4, ct, n);
        noise_transport_clear(&client_t);
        noise_transport_clear(&server_t);
        free(ct);
        free(pt);
    }

    /* Round trips: k, d+64, cut (little endian), plaintext pattern. */
    {
        static const struct { const char *name; uint8_t k, d; uint16_t cut; } rt[] = {
            {"rt-empty", 0, 64, 0},
            {"rt-chunk", 1, 64 - 16, 0},
            {"rt-65535", 1, 64, 65535},
            {"rt-2chunks-cut", 2, 63, 65535},
            {"rt-3chunks-plus", 3, 128, 1},
        };
        for (size_t i = 0; i < sizeof(rt) / sizeof(rt[0]); i++) {
            uint8_t in[6] = {rt[i].k, rt[i].d, (uint8_t)rt[i].cut, (uint8_t)(rt[i].cut >> 8),
                             0x42, 0x17};
            noise_seed(rt[i].name, FX_NOISE_ROUND_TRIP, 6, in, sizeof(in));
        }
    }
    keystore_free(peer);
    keystore_free(server);
}

/* ============================================================ noise }
 * {============================================================ hook output */

static void hook_seeds(void)
{
    /* Byte code of fixtures.h; the first byte picks the channel sent on. */
    static const struct { const char *name; uint8_t len; uint8_t code[24]; } seeds[] = {
        {"nil", 2, {0, 8}},
        {"empty", 3, {0, 0, 0}},
        {"echo", 9, {0, 0, 1, 1, 0, 2, 2, 'h', 'i'}},
        {"two-channels", 14, {1, 0, 2, 1, 8, 2, 1, 'a', 1, 16, 2, 2, 'b', 'c'}},
        {"close", 7, {0, 0, 1, 1, 0, 7, 0}},
        {"close-other", 7, {2, 0, 1, 1, 8, 7, 14}},
        {"close-then-data", 12, {0, 0, 2, 1, 0, 7, 0, 1, 0, 2, 1, 'x'}},
        {"status-out-of-range", 7, {0, 0, 1, 1, 0, 7, 17}},
        {"too-many", 8, {0, 12, 9, 1, 0, 2, 1, 'x'}},
        {"max-outputs", 8, {0, 12, 8, 1, 0, 2, 1, 'x'}},
        {"too-long", 7, {0, 0, 1, 1, 0, 10, 16}},
        {"error", 3, {0, 11, 5}},
        {"cid-not-open", 8, {0, 0, 1, 1, 20, 2, 1, 'x'}},
        {"cid-negative", 8, {0, 0, 1, 1, 13, 2, 1, 'x'}},
        {"cid-2-32", 8, {0, 0, 1, 1, 14, 2, 1, 'x'}},
        {"cid-float", 8, {0, 0, 1, 1, 7, 2, 1, 'x'}},
        {"entry-not-table", 5, {0, 0, 1, 3, 5}},
        {"string-result", 4, {0, 2, 1, 'x'}},
        {"payload-bool", 7, {0, 0, 1, 1, 0, 6, 1}},
        {"payload-float", 14, {0, 0, 1, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f}},
        {"payload-int64", 14, {0, 0, 1, 1, 0, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
        {"metatable", 3, {0, 13, 2}},
        {"function-entry", 5, {0, 0, 1, 13, 0}},
        {"holes", 17, {0, 9, 0, 1, 1, 0, 2, 1, 'a', 3, 131, 1, 0, 2, 1, 'b', 8}},
        {"deep", 21, {0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1}},
    };

    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        write_seed("hook_output", seeds[i].name, seeds[i].code, seeds[i].len);
    }
}

/* ============================================================ hook output } */

/* {=================================================================== seal */

/* A seal seed: flags, the 8-byte seed, then body. */
static void seal_seed(const char *name, uint8_t flags, uint64_t seed, const uint8_t *body,
                      size_t len)
{
    uint8_t *buf = malloc(FX_SEAL_HEADER + len);

    if (buf == NULL) {
        exit(EXIT_FAILURE);
    }
    buf[0] = flags;
    memcpy(buf + 1, &seed, sizeof(seed));
    if (len > 0) {
        memcpy(buf + FX_SEAL_HEADER, body, len);
    }
    write_seed("seal", name, buf, FX_SEAL_HEADER + len);
    free(buf);
}

/* Round trips of a few lengths with each sealer, tampered and ragged ones,
 * and real sealed blobs for decrypt mode (whole, cut, bad version). */
static void seal_seeds(void)
{
    static const size_t lengths[] = {0, 1, 31, 32, 33, 100};
    uint8_t keys[FX_SEAL_USER_KEYS * SEAL_USER_KEY_LEN];
    uint8_t plain[100];
    uint8_t sealed[100 + SEAL_OVERHEAD];
    struct fx_rng rng = {7};
    size_t sealed_len = 0;
    char name[64];

    fx_seal_user_keys(keys);
    for (size_t i = 0; i < sizeof(plain); i++) {
        plain[i] = (uint8_t)(i * 13 + 1);
    }
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        snprintf(name, sizeof(name), "rt-nokey-%zu", lengths[i]);
        seal_seed(name, FX_SEAL_ROUND_TRIP | (3 << FX_SEAL_SEALER_SHIFT), i, plain, lengths[i]);
        snprintf(name, sizeof(name), "rt-key1-of-2-%zu", lengths[i]);
        seal_seed(name, FX_SEAL_ROUND_TRIP | (1 << FX_SEAL_SEALER_SHIFT) | 2, i, plain,
                  lengths[i]);
    }
    seal_seed("rt-key2-not-tried", FX_SEAL_ROUND_TRIP | (2 << FX_SEAL_SEALER_SHIFT) | 2, 1, plain,
              40);
    seal_seed("rt-tamper", FX_SEAL_ROUND_TRIP | FX_SEAL_TAMPER | (3 << FX_SEAL_SEALER_SHIFT), 9,
              plain, 64);
    seal_seed("rt-ragged", FX_SEAL_ROUND_TRIP | FX_SEAL_RAGGED_KEYS | 1, 3, plain, 10);

    ENCLAVED_ASSERT(seal_encrypt(fx_seal_secret, fx_seal_code_hash, keys, plain, 50, fx_rng_bytes,
                                 &rng, sealed, &sealed_len) == STATUS_OK);
    seal_seed("open-key0", 1, 0, sealed, sealed_len);
    seal_seed("open-wrong-key", 0, 0, sealed, sealed_len);
    seal_seed("open-cut", 1, 0, sealed, sealed_len - 1);
    seal_seed("open-header-only", 1, 0, sealed, SEAL_OVERHEAD);
    sealed[0] ^= 0xff;
    seal_seed("open-bad-version", 1, 0, sealed, sealed_len);
    seal_seed("open-empty", 3, 0, NULL, 0);
}

/* =================================================================== seal } */

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz-seedgen CORPUS_ROOT\n");
        return EXIT_FAILURE;
    }
    root = argv[1];
    session_seeds();
    noise_seeds();
    hook_seeds();
    seal_seeds();
    printf("fuzz-seedgen: %zu session, noise, hook_output and seal seeds in %s\n", written, root);
    return EXIT_SUCCESS;
}
