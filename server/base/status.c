/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "base/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"

struct trail_slot {
    const char *why;
    const char *file;
    int line;
};

/* One per thread: the loop's, and the key-pool worker's own (status.h). */
static __thread struct {
    struct trail_slot slots[STATUS_TRAIL_SLOTS];
    size_t count;
    char detail[STATUS_DETAIL_CAP];
    size_t detail_len;
} trail;

const char *status_name(status_t s)
{
    switch (s) {
#define STATUS_NAME(name, num, msg) \
    case STATUS_##name:             \
        return #name;
        STATUS_LIST(STATUS_NAME)
#undef STATUS_NAME
    }
    return "UNKNOWN_STATUS";
}

const char *status_message(status_t s)
{
    switch (s) {
#define STATUS_MSG(name, num, msg) \
    case STATUS_##name:            \
        return msg;
        STATUS_LIST(STATUS_MSG)
#undef STATUS_MSG
    }
    return "unknown status";
}

int status_is_valid(int s)
{
    return s >= 0 && s < STATUS_COUNT;
}

void status_trail_reset(void)
{
    trail.count = 0;
    trail.detail_len = 0;
    trail.detail[0] = '\0';
}

status_t status_trail_push(status_t s, const char *why, const char *file, int line)
{
    /* The innermost (first) failures matter most; later pushes that do not
     * fit are dropped rather than overwriting them. */
    if (trail.count < STATUS_TRAIL_SLOTS) {
        trail.slots[trail.count].why = why;
        trail.slots[trail.count].file = file;
        trail.slots[trail.count].line = line;
        trail.count++;
    }
    return s;
}

void status_trail_set_detail(const char *text, size_t len)
{
    /* Detail goes on the wire as a protobuf string, which must be UTF-8, and
     * into logs: keep printable ASCII only. */
    trail.detail_len = text_sanitize(trail.detail, sizeof(trail.detail), text, len);
}

const char *status_trail_message(void)
{
    if (trail.detail_len > 0) {
        return trail.detail;
    }
    if (trail.count > 0) {
        return trail.slots[0].why;
    }
    return "";
}

void status_trail_format(char *buf, size_t cap)
{
    size_t used = 0;

    if (cap == 0) {
        return;
    }
    buf[0] = '\0';
    for (size_t i = trail.count; i > 0; i--) {
        const struct trail_slot *slot = &trail.slots[i - 1];
        /* __FILE__ is relative to the build directory: keep server/... */
        const char *file = strstr(slot->file, "server/");
        int n = snprintf(buf + used, cap - used, "%s%s (%s:%d)", used ? ": " : "",
                         slot->why, file != NULL ? file : slot->file, slot->line);
        if (n < 0 || (size_t)n >= cap - used) {
            return;
        }
        used += (size_t)n;
    }
    if (trail.detail_len > 0) {
        snprintf(buf + used, cap - used, "%s%s", used ? ": " : "", trail.detail);
    }
}

void status_trail_take(struct status_report *r)
{
    snprintf(r->message, sizeof(r->message), "%s", status_trail_message());
    status_trail_format(r->trail, sizeof(r->trail));
    status_trail_reset();
}

void status_assert_failed(const char *expr, const char *file, int line)
{
    fprintf(stderr, "enclaved: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
