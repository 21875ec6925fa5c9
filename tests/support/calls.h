/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Test-only: the calls e2e suites make on a connected client, each failing
 * the current Check test with the server's status and message when the
 * server does not do what the call expects. Waits are bounded at 5 s.
 */
#ifndef ENCLAVED_TEST_CALLS_H
#define ENCLAVED_TEST_CALLS_H

#include <stdint.h>

#include "lib/client.h"

/* ProcessCreate of src under name; returns the process id. */
uint32_t e2e_create(struct client *c, const char *name, const char *src);
/* Opens a raw channel to process pid; returns the channel id. */
uint32_t e2e_open_raw(struct client *c, uint32_t pid);
void e2e_send_text(struct client *c, uint32_t cid, const char *text);
/* The next message on cid is exactly want. */
void e2e_expect_text(struct client *c, uint32_t cid, const char *want);
/* cid is closed with status want and, unless reason_part is NULL, a reason
 * that contains reason_part. */
void e2e_expect_closed(struct client *c, uint32_t cid, status_t want, const char *reason_part);
/* Nothing at all arrives within ms. */
void e2e_expect_silence(struct client *c, int ms);

#endif
