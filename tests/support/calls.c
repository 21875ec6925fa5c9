/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "calls.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

enum { WAIT_MS = 5000 };

uint32_t e2e_create(struct client *c, const char *name, const char *src)
{
    uint32_t pid = 0;
    char msg[256];
    status_t s = client_process_create(c, name, (const uint8_t *)src, strlen(src), 0, &pid, NULL,
                                       msg, sizeof(msg));

    ck_assert_msg(s == STATUS_OK, "create %s: %s %s", name, status_name(s), msg);
    return pid;
}

uint32_t e2e_open_raw(struct client *c, uint32_t pid)
{
    uint32_t cid = 0;
    char msg[256];
    status_t s = client_channel_open(c, pid, NULL, ENCLAVED__CHANNEL_TYPE__RAW, &cid, msg,
                                     sizeof(msg));

    ck_assert_msg(s == STATUS_OK, "open: %s %s", status_name(s), msg);
    return cid;
}

void e2e_send_text(struct client *c, uint32_t cid, const char *text)
{
    ck_assert_int_eq(client_send_data(c, cid, (const uint8_t *)text, strlen(text)), STATUS_OK);
}

void e2e_expect_text(struct client *c, uint32_t cid, const char *want)
{
    uint8_t *data = NULL;
    size_t len = 0;
    char reason[256];
    status_t s = client_channel_recv(c, cid, WAIT_MS, &data, &len, reason, sizeof(reason));

    ck_assert_msg(s == STATUS_OK, "recv on %u: %s %s", cid, status_name(s), reason);
    ck_assert_msg(len == strlen(want) && memcmp(data, want, len) == 0, "got '%.*s', want '%s'",
                  (int)len, (const char *)data, want);
    free(data);
}

void e2e_expect_closed(struct client *c, uint32_t cid, status_t want, const char *reason_part)
{
    status_t got = STATUS_OK;
    char reason[256];

    ck_assert_int_eq(client_channel_wait_closed(c, cid, WAIT_MS, &got, reason, sizeof(reason)),
                     STATUS_OK);
    ck_assert_msg(got == want, "channel %u closed with %s (%s), want %s", cid, status_name(got),
                  reason, status_name(want));
    if (reason_part != NULL) {
        ck_assert_msg(strstr(reason, reason_part) != NULL, "reason '%s' lacks '%s'", reason,
                      reason_part);
    }
}

void e2e_expect_silence(struct client *c, int ms)
{
    Enclaved__ServerFrame *f = NULL;

    ck_assert_int_eq(client_next_event(c, ms, &f), STATUS_DEADLINE_EXCEEDED);
}
