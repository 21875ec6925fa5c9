/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Targets process_new, process_handle_create/message/close and process_free with generated Lua source: the containment of DESIGN §5. */
/*
 * The input is the source of an app, run as a process with small limits
 * (1 MiB, 200000 work units, max_hook_ms 50): its top level, then each hook
 * once. lua.dict gives libFuzzer the library names, metamethods, patterns
 * and control flow to build programs from; the corpus starts from the
 * hostile e2e corpus. Every call, and the destroy, must end within
 * 30 x max_hook_ms whatever the app does (ENCLAVED_ASSERT aborts otherwise),
 * and libFuzzer's -timeout makes any longer stall a finding too. Statuses
 * must be the documented ones; nothing may leak (ASan).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"
#include "base/log.h"
#include "lua/process.h"

/* The bound is far above HOOK_MS: sanitizers slow everything and the
 * shared machine can deschedule us for a few hundred ms. */
enum { HOOK_MS = 50, CALL_BOUND_MS = 30 * HOOK_MS, CID = 7 };

static int belongs(void *ctx, const struct process *p, uint32_t cid)
{
    (void)ctx;
    (void)p;
    return cid == CID;
}

static void deliver(void *ctx, struct process *p, const struct process_output *o)
{
    (void)ctx;
    (void)p;
    ENCLAVED_ASSERT(o->channel_id == CID);
}

static uint64_t now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static void check_call(status_t st, uint64_t start)
{
    ENCLAVED_ASSERT(st == STATUS_OK || st == STATUS_INTERNAL || st == STATUS_INVALID_ARGUMENT ||
                    st == STATUS_RESOURCE_EXHAUSTED || st == STATUS_DEADLINE_EXCEEDED);
    ENCLAVED_ASSERT(now_ms() - start < CALL_BOUND_MS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t sealing[32] = {0x5e};
    struct process_limits limits = {
        .memory_cap = 1u << 20,
        .instructions = 200 * 1000,
        .hook_ms = HOOK_MS,
        .max_outputs = 16,
        .max_message = 4096,
    };
    struct process_host host = {
        .ctx = NULL, .channel_belongs = belongs, .deliver = deliver,
    };
    struct process *p = NULL;
    uint64_t start;
    status_t st;

    log_set_level(LOG_ERROR);
    status_trail_reset();
    start = now_ms();
    st = process_new(1, "fuzz", data, size, &limits, &host, sealing, &p);
    check_call(st, start);
    if (st != STATUS_OK) {
        return 0;
    }
    start = now_ms();
    check_call(process_handle_create(p, CID, PROCESS_CHAN_UNENCRYPTED), start);
    for (int i = 0; i < 2; i++) {
        start = now_ms();
        check_call(process_handle_message(p, CID, (const uint8_t *)"go", 2), start);
    }
    start = now_ms();
    check_call(process_handle_close(p, CID), start);
    start = now_ms();
    process_free(p);
    ENCLAVED_ASSERT(now_ms() - start < CALL_BOUND_MS);
    return 0;
}
