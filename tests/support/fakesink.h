/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Test-only: the core without the wire. A fakecore owns a core with fixed
 * keys; a fakesink is a channel owner whose core_sink records every
 * channel_data and channel_closed the core hands it, in order, for the test
 * to pop and check. No ServerFrame is built or decoded.
 */
#ifndef ENCLAVED_TEST_FAKESINK_H
#define ENCLAVED_TEST_FAKESINK_H

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/channel.h"
#include "core/core.h"
#include "core/procs.h"
#include "crypto/keystore.h"
#include "image/config.h"

struct sink_event {
    int is_close;
    uint32_t cid;
    status_t status;       /* is_close */
    char *reason;          /* is_close */
    uint8_t *data;         /* !is_close */
    size_t len;
    struct sink_event *next;
};

struct fakesink {
    struct channel_owner owner;
    struct sink_event *head, **tail;
    size_t count;          /* events recorded in all */
};

static inline void fakesink_push(struct fakesink *f, struct sink_event *e)
{
    f->count++;
    *f->tail = e;
    f->tail = &e->next;
}

static inline void fakesink_data(void *ctx, uint32_t cid, const uint8_t *data, size_t len)
{
    struct sink_event *e = calloc(1, sizeof(*e));

    ck_assert_ptr_nonnull(e);
    e->cid = cid;
    e->len = len;
    e->data = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(e->data);
    if (len > 0) {
        memcpy(e->data, data, len);
    }
    fakesink_push(ctx, e);
}

static inline void fakesink_closed(void *ctx, uint32_t cid, status_t status, const char *reason)
{
    struct sink_event *e = calloc(1, sizeof(*e));

    ck_assert_ptr_nonnull(e);
    e->is_close = 1;
    e->cid = cid;
    e->status = status;
    e->reason = strdup(reason);
    ck_assert_ptr_nonnull(e->reason);
    fakesink_push(ctx, e);
}

static const struct core_sink fakesink_ops = {fakesink_data, fakesink_closed};

static inline void fakesink_init(struct fakesink *f)
{
    memset(f, 0, sizeof(*f));
    f->tail = &f->head;
    channel_owner_init(&f->owner, &fakesink_ops, f);
}

static inline void sink_event_free(struct sink_event *e)
{
    if (e != NULL) {
        free(e->data);
        free(e->reason);
        free(e);
    }
}

/* Pops the oldest event, or NULL; the caller frees it with sink_event_free. */
static inline struct sink_event *fakesink_next(struct fakesink *f)
{
    struct sink_event *e = f->head;

    if (e != NULL) {
        f->head = e->next;
        if (f->head == NULL) {
            f->tail = &f->head;
        }
        e->next = NULL;
    }
    return e;
}

/* Pops the next event and asserts it is channel_closed(cid, status, reason). */
static inline void fakesink_expect_closed(struct fakesink *f, uint32_t cid, status_t status,
                                          const char *reason)
{
    struct sink_event *e = fakesink_next(f);

    ck_assert_ptr_nonnull(e);
    ck_assert_msg(e->is_close, "channel_data on %u, want channel_closed on %u", e->cid, cid);
    ck_assert_uint_eq(e->cid, cid);
    ck_assert_int_eq(e->status, status);
    ck_assert_str_eq(e->reason, reason);
    sink_event_free(e);
}

/* Pops the next event and asserts it is channel_data for cid. */
static inline struct sink_event *fakesink_expect_data(struct fakesink *f, uint32_t cid)
{
    struct sink_event *e = fakesink_next(f);

    ck_assert_ptr_nonnull(e);
    ck_assert_msg(!e->is_close, "channel_closed on %u (%s: %s), want data", e->cid,
                  status_name(e->status), e->reason);
    ck_assert_uint_eq(e->cid, cid);
    return e;
}

/* The owner goes away: its channels close (HandleChannelClose runs, nothing
 * is sent), and the events still queued are dropped. */
static inline void fakesink_clear(struct fakesink *f, struct core *core)
{
    struct sink_event *e;

    channel_close_owner(core->channels, &f->owner);
    while ((e = fakesink_next(f)) != NULL) {
        sink_event_free(e);
    }
}

struct fakecore {
    struct core *core;
};

/* Starts a core with cfg (NULL: defaults) and the server key 0x11... and
 * sealing secret 0x22... (corehost.h's). */
static inline void fakecore_init(struct fakecore *h, const struct config *cfg)
{
    struct config defaults;
    struct keystore *ks = NULL;
    uint8_t priv[32], secret[32];

    if (cfg == NULL) {
        config_defaults(&defaults);
        cfg = &defaults;
    }
    memset(priv, 0x11, sizeof(priv));
    memset(secret, 0x22, sizeof(secret));
    ck_assert_int_eq(keystore_new(priv, secret, &ks), STATUS_OK);
    ck_assert_int_eq(core_new(cfg, ks, &h->core), STATUS_OK);
}

static inline void fakecore_clear(struct fakecore *h)
{
    core_free(h->core);
    h->core = NULL;
}

/* Opens a channel of type from owner f to p the way dispatch does, checking
 * that nothing is sent before channel_start. */
static inline uint32_t fakecore_open(struct fakecore *h, struct fakesink *f, struct proc *p,
                                     enum channel_type type)
{
    size_t before = f->count;
    uint32_t cid = 0;

    ck_assert_int_eq(channel_check_open(h->core->channels, &p->channels, type), STATUS_OK);
    ck_assert_int_eq(channel_open(h->core->channels, &f->owner, &p->channels, type, &cid),
                     STATUS_OK);
    ck_assert_uint_ne(cid, 0);
    ck_assert_uint_eq(f->count, before);
    channel_start(h->core->channels, cid);
    return cid;
}

#endif
