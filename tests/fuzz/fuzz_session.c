/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Targets session_feed, session_resume, session_output (frame_next, dispatch_frame, the request handlers, channel_input, the core_sink of sessions, Noise responder), session_free, core_run_timers. */
/*
 * One connection to a fresh core that holds one echo process. The input is a
 * header (fixtures.h) and then the client's bytes, fed in reads whose sizes
 * the header picks. After every read the output is parsed back: it must be
 * whole frames, each a ServerFrame. Limits are small so runs stay fast. The
 * server's own Noise ephemerals come from its DRBG, not the input; they only
 * change the bytes of its handshake replies, never which path runs, since
 * the input cannot complete a handshake against an unknown ephemeral.
 */
#include <stdlib.h>
#include <string.h>

#include "image/config.h"
#include "core/core.h"
#include "fixtures.h"
#include "wire/frame.h"
#include "fuzz.h"
#include "base/log.h"
#include "core/procs.h"
#include "wire/session.h"

static void on_wake(void *io_handle)
{
    (void)io_handle;
}

static void small_config(struct config *cfg)
{
    char err[200];

    config_defaults(cfg);
    cfg->max_frame = 64 * 1024;
    cfg->max_message = 32 * 1024;
    cfg->max_connections = 1;
    cfg->max_processes = 4;
    cfg->max_channels_per_process = 8;
    cfg->max_memory_per_process = 1u << 20;
    cfg->default_memory_per_process = 1u << 20;
    cfg->max_instructions_per_hook = 100 * 1000;
    cfg->max_outputs_per_hook = 16;
    cfg->max_output_buffer = 1u << 20;
    cfg->log_level = LOG_ERROR;
    ENCLAVED_ASSERT(config_validate(cfg, err, sizeof(err)) == STATUS_OK);
}

/* Pops every whole frame of output; each must parse as a ServerFrame, and
 * nothing may be left over (the session only ever emits whole frames). */
static void drain(struct session *s, uint32_t max_frame)
{
    const uint8_t *data;
    size_t len;

    for (;;) {
        uint32_t n = 0;
        Enclaved__ServerFrame *f;

        session_output(s, &data, &len);
        if (len == 0) {
            return;
        }
        ENCLAVED_ASSERT(frame_next(data, len, max_frame, &n) == FRAME_READY);
        f = enclaved__server_frame__unpack(NULL, n, data + FRAME_HEADER_LEN);
        ENCLAVED_ASSERT(f != NULL);
        ENCLAVED_ASSERT(f->kind_case != ENCLAVED__SERVER_FRAME__KIND__NOT_SET);
        if (f->kind_case == ENCLAVED__SERVER_FRAME__KIND_RESPONSE) {
            ENCLAVED_ASSERT((unsigned)f->response->status < STATUS_COUNT);
        } else if (f->kind_case == ENCLAVED__SERVER_FRAME__KIND_CHANNEL_CLOSED) {
            ENCLAVED_ASSERT((unsigned)f->channel_closed->status < STATUS_COUNT);
        }
        enclaved__server_frame__free_unpacked(f, NULL);
        session_consume_output(s, FRAME_HEADER_LEN + (size_t)n);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config cfg;
    struct core *core = NULL;
    struct session *s = NULL;
    struct proc *echo = NULL;
    uint8_t flags, sizes[3];
    size_t i = 0;

    if (size < FX_SESSION_HEADER) {
        return 0;
    }
    flags = data[0];
    memcpy(sizes, data + 1, sizeof(sizes));
    data += FX_SESSION_HEADER;
    size -= FX_SESSION_HEADER;

    small_config(&cfg);
    log_set_level(LOG_ERROR);
    status_trail_reset();
    ENCLAVED_ASSERT(core_new(&cfg, fx_keystore(FX_SERVER_KEY_BYTE), &core) == STATUS_OK);
    ENCLAVED_ASSERT(procs_create(core->processes, "echo", (const uint8_t *)fx_echo_app, strlen(fx_echo_app),
                                 0, &echo) == STATUS_OK);
    ENCLAVED_ASSERT(session_new(core, on_wake, NULL, &s) == STATUS_OK);

    while (size > 0 && !session_should_close(s)) {
        size_t n = sizes[i++ % 3];

        if (n == 0 || n > size) {
            n = size;
        }
        session_feed(s, data, n);
        data += n;
        size -= n;
        /* A driver drains output (a lazy one only once the session pauses),
         * then resumes input kept while paused, until it takes reads again. */
        while (!(flags & FX_SESSION_LAZY) || !session_wants_read(s)) {
            drain(s, cfg.max_frame);
            if (session_should_close(s)) {
                break;
            }
            session_resume(s);
            if (session_wants_read(s)) {
                break;
            }
        }
    }
    drain(s, cfg.max_frame);
    if (flags & FX_SESSION_EXPIRE) {
        core_run_timers(core, UINT64_MAX);
        drain(s, cfg.max_frame);
    }
    session_free(s);
    core_free(core);
    return 0;
}
