/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

#include "core/channel.h"
#include "core/procs.h"
#include "platform/platform.h"
#include "wire/session.h"

status_t core_new(const struct config *cfg, struct keystore *ks, const struct core_io *io,
                  struct core **out)
{
    struct core *core = calloc(1, sizeof(*core));

    if (core == NULL) {
        keystore_free(ks);
        FAIL(STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    core->config = *cfg;
    core->keystore = ks;
    core->io = *io;
    core->started_micros = platform_time_micros();
    core->started_ms = platform_monotonic_ms();
    if (channel_table_new(&core->channels) != STATUS_OK ||
        procs_table_new(core, &core->processes) != STATUS_OK) {
        core_free(core);
        FAIL(STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    *out = core;
    return STATUS_OK;
}

void core_free(struct core *core)
{
    if (core == NULL) {
        return;
    }
    ENCLAVED_ASSERT(core->sessions == NULL);
    procs_table_free(core->processes);
    channel_table_free(core->channels);
    keystore_free(core->keystore);
    free(core);
}

int64_t core_next_timeout_ms(const struct core *core, uint64_t now_ms)
{
    return channel_next_timeout_ms(core, now_ms);
}

void core_run_timers(struct core *core, uint64_t now_ms)
{
    channel_run_timers(core, now_ms);
}

void core_wake(struct core *core, struct session *s)
{
    if (s != core->feeding && core->io.wake != NULL) {
        core->io.wake(core->io.ctx, s);
    }
}

void core_count_error(struct core *core, status_t status)
{
    if (status != STATUS_OK && status_is_valid((int)status)) {
        core->stats.errors[status]++;
    }
}
