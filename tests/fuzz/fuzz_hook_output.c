/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Targets process_handle_message and its output validation (the result table of HandleChannelMessage), process_handle_create, process_new, process_free. */
/*
 * The app (fixtures.h) turns the message into the value its hook returns, so
 * the input is, in effect, the Lua output list. The host below plays
 * channel.c's part: channels belong while open, and a delivered close output
 * closes one at once. It checks that nothing is delivered unless the hook
 * returned OK, that every delivered output names an open channel, carries at
 * most max_message bytes or a real status, and that a call delivers at most
 * max_outputs. Afterwards the process must still answer a well-formed call.
 */
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "fuzz.h"
#include "base/log.h"
#include "lua/process.h"

struct host {
    struct process_host h;
    uint32_t open[FX_HOOK_CHANNELS];
    int is_open[FX_HOOK_CHANNELS];
    size_t delivered;
};

static int find_open(const struct host *host, uint32_t cid)
{
    for (int i = 0; i < FX_HOOK_CHANNELS; i++) {
        if (host->is_open[i] && host->open[i] == cid) {
            return i;
        }
    }
    return -1;
}

static int belongs(void *ctx, const struct process *p, uint32_t cid)
{
    (void)p;
    return find_open(ctx, cid) >= 0;
}

static void deliver(void *ctx, struct process *p, const struct process_output *o)
{
    struct host *host = ctx;
    int i = find_open(host, o->channel_id);

    (void)p;
    ENCLAVED_ASSERT(i >= 0);
    if (o->is_close) {
        ENCLAVED_ASSERT((unsigned)o->status < STATUS_COUNT);
        host->is_open[i] = 0;
    } else {
        ENCLAVED_ASSERT(o->len <= FX_HOOK_MAX_MESSAGE);
        ENCLAVED_ASSERT(o->data != NULL || o->len == 0);
    }
    host->delivered++;
}

/* Sends msg on cid; checks the statuses the API may return and that
 * outputs were delivered only on OK, and at most max_outputs of them. */
static status_t send(struct process *p, struct host *host, uint32_t cid, const uint8_t *msg,
                     size_t len)
{
    status_t st;

    host->delivered = 0;
    status_trail_reset();
    st = process_handle_message(p, cid, msg, len);
    ENCLAVED_ASSERT(st == STATUS_OK || st == STATUS_INTERNAL ||
                    st == STATUS_RESOURCE_EXHAUSTED || st == STATUS_DEADLINE_EXCEEDED);
    ENCLAVED_ASSERT(st == STATUS_OK || host->delivered == 0);
    ENCLAVED_ASSERT(host->delivered <= FX_HOOK_MAX_OUTPUTS);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t sealing[32] = {FX_SEALING_BYTE};
    struct process_limits limits = {
        .memory_cap = 1u << 20,
        .instructions = 100 * 1000,
        .max_outputs = FX_HOOK_MAX_OUTPUTS,
        .max_message = FX_HOOK_MAX_MESSAGE,
    };
    struct host host;
    struct process *p = NULL;
    uint8_t ok[] = {0, 1, 1, 0, 2, 2, 'o', 'k'};   /* {{cid, "ok"}}; cid set below */
    uint32_t cid;
    int live = -1;

    if (size < 1) {
        return 0;
    }
    log_set_level(LOG_ERROR);
    memset(&host, 0, sizeof(host));
    host.h.ctx = &host;
    host.h.channel_belongs = belongs;
    host.h.deliver = deliver;
    status_trail_reset();
    ENCLAVED_ASSERT(process_new(1, "hook", (const uint8_t *)fx_hook_app, strlen(fx_hook_app),
                                &limits, &host.h, sealing, &p) == STATUS_OK);
    for (int i = 0; i < FX_HOOK_CHANNELS; i++) {
        host.open[i] = FX_HOOK_FIRST_CID + (uint32_t)i;
        host.is_open[i] = 1;
        ENCLAVED_ASSERT(process_handle_create(p, host.open[i], PROCESS_CHAN_UNENCRYPTED) ==
                        STATUS_OK);
    }

    cid = host.open[data[0] % FX_HOOK_CHANNELS];
    (void)send(p, &host, cid, data + 1, size - 1);

    /* Still usable: a well-formed output to a channel still open is delivered. */
    for (int i = 0; i < FX_HOOK_CHANNELS; i++) {
        if (host.is_open[i]) {
            live = i;
        }
    }
    if (live >= 0) {
        ok[3] = (uint8_t)(live << 3);   /* cid byte: open channel number `live` */
        ENCLAVED_ASSERT(send(p, &host, cid, ok, sizeof(ok)) == STATUS_OK);
        ENCLAVED_ASSERT(host.delivered == 1);
    }
    process_free(p);
    return 0;
}
