/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "channel.h"

#include <stdlib.h>

#include "log.h"
#include "session.h"

struct channel_table {
    size_t count;
};

status_t channel_table_new(struct channel_table **out)
{
    struct channel_table *t = calloc(1, sizeof(*t));

    ENSURE(t != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    *out = t;
    return STATUS_OK;
}

void channel_table_free(struct channel_table *t)
{
    free(t);
}

void channel_handle_data(struct session *s, uint32_t channel_id, const uint8_t *data, size_t len)
{
    (void)data;
    LOG_D("connection %llu: data for unknown channel %u (%zu bytes) ignored",
          (unsigned long long)s->id, channel_id, len);
}

void channel_handle_client_close(struct session *s, uint32_t channel_id)
{
    LOG_D("connection %llu: close of unknown channel %u ignored", (unsigned long long)s->id,
          channel_id);
}

void channel_close_session(struct core *core, struct session *s)
{
    (void)core;
    (void)s;
}

void channel_fill_stats(const struct core *core, Enclaved__Stats *stats)
{
    (void)core;
    (void)stats;
}
