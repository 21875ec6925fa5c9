/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "core/core.h"

#include "platform/platform.h"

#include <stdlib.h>

#include "core/peer.h"

status_t core_new(const struct config *cfg, struct keystore *ks, struct core **out)
{
    struct core *core = calloc(1, sizeof(*core));

    if (core == NULL) {
        keystore_free(ks);
        FAIL(STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    core->config = *cfg;
    core->started_micros = platform_time_micros();
    core->started_ms = platform_monotonic_ms();
    core->keystore = ks;
    if (channel_table_new(&core->config, ks, &core->stats, &core->channels) != STATUS_OK ||
        procs_table_new(&core->config, core->channels, keystore_sealing_secret(ks),
                        &core->processes) != STATUS_OK ||
        peer_table_new(&core->config, core->processes, core->channels, &core->peers) != STATUS_OK) {
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
    ENCLAVED_ASSERT(core->stats.connections_open == 0);
    if (core->peers != NULL) {
        /* Links hold channels: they end before the processes do. */
        peer_set_dialer(core->peers, NULL);
        peer_stop_all(core->peers);
    }
    procs_table_free(core->processes);
    peer_table_free(core->peers);
    channel_table_free(core->channels);
    keystore_free(core->keystore);
    free(core);
}

int64_t core_next_timeout_ms(const struct core *core, uint64_t now_ms)
{
    int64_t channels = channel_next_timeout_ms(core->channels, now_ms);
    int64_t peers = peer_next_timeout_ms(core->peers, now_ms);

    if (channels < 0 || (peers >= 0 && peers < channels)) {
        return peers;
    }
    return channels;
}

void core_run_timers(struct core *core, uint64_t now_ms)
{
    channel_run_timers(core->channels, now_ms);
    peer_run_timers(core->peers, now_ms);
}
