/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Test-only: a process host that records delivered outputs. */
#ifndef ENCLAVED_TEST_APPHOST_H
#define ENCLAVED_TEST_APPHOST_H

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lua/process.h"

enum { APPHOST_CHANNELS = 64 };

struct rec_output {
    uint32_t cid;
    int is_close;
    status_t status;
    char *data;
    size_t len;
};

struct apphost {
    struct process_host host;
    const uint8_t *sealing_secret;  /* passed to process_new; NULL: no sealing */
    uint32_t open[APPHOST_CHANNELS];
    size_t open_count;
    struct rec_output *outs;
    size_t count, cap;
};

static inline int apphost_belongs(void *ctx, const struct process *p, uint32_t cid)
{
    struct apphost *h = ctx;
    (void)p;
    for (size_t i = 0; i < h->open_count; i++) {
        if (h->open[i] == cid) {
            return 1;
        }
    }
    return 0;
}

static inline void apphost_deliver(void *ctx, struct process *p, const struct process_output *o)
{
    struct apphost *h = ctx;
    (void)p;
    if (h->count == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 16;
        h->outs = realloc(h->outs, h->cap * sizeof(*h->outs));
        ck_assert_ptr_nonnull(h->outs);
    }
    struct rec_output *r = &h->outs[h->count++];
    r->cid = o->channel_id;
    r->is_close = o->is_close;
    r->status = o->status;
    r->len = o->len;
    r->data = malloc(o->len + 1);
    ck_assert_ptr_nonnull(r->data);
    if (o->len > 0) {
        memcpy(r->data, o->data, o->len);
    }
    r->data[o->len] = '\0';
}

static inline void apphost_reset(struct apphost *h)
{
    for (size_t i = 0; i < h->count; i++) {
        free(h->outs[i].data);
    }
    h->count = 0;
}

/* A fixed sealing secret for tests; the product's comes from userdata keys. */
static const uint8_t apphost_sealing_secret[32] = {
    0x5e, 0xa1, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
    0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
};

static inline void apphost_init(struct apphost *h)
{
    memset(h, 0, sizeof(*h));
    h->host.ctx = h;
    h->sealing_secret = apphost_sealing_secret;
    h->host.channel_belongs = apphost_belongs;
    h->host.deliver = apphost_deliver;
}

static inline void apphost_clear(struct apphost *h)
{
    apphost_reset(h);
    free(h->outs);
    h->outs = NULL;
    h->cap = 0;
}

static inline void apphost_open(struct apphost *h, uint32_t cid)
{
    ck_assert_uint_lt(h->open_count, APPHOST_CHANNELS);
    h->open[h->open_count++] = cid;
}

static inline struct process_limits apphost_limits(void)
{
    struct process_limits l = {
        .memory_cap = 64u << 20,
        .instructions = 10 * 1000 * 1000,
        /* Generous: these suites test work and memory, not the clock, on a
         * shared machine (test_process has its own deadline cases). */
        .hook_ms = 10000,
        .max_outputs = 1000,
        .max_message = 65536,
    };
    return l;
}

/* Creates a process from src or fails the test with the trail message. */
static inline struct process *apphost_new(struct apphost *h, const char *src)
{
    struct process_limits l = apphost_limits();
    struct process *p = NULL;
    status_trail_reset();
    status_t s = process_new(1, "test", (const uint8_t *)src, strlen(src), &l, &h->host,
                             h->sealing_secret, &p);
    ck_assert_msg(s == STATUS_OK, "process_new: %s: %s", status_name(s), status_trail_message());
    return p;
}

/* Sends msg on cid and returns the status. */
static inline status_t apphost_send(struct process *p, uint32_t cid, const char *msg)
{
    status_trail_reset();
    return process_handle_message(p, cid, (const uint8_t *)msg, strlen(msg));
}

#endif
