/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Printable text from untrusted bytes: the one sanitizer for everything
 * that app code or clients can put into a log line or a wire message (Lua
 * errors, enclave.log, print, status details). Stateless.
 */
#ifndef ENCLAVED_TEXT_H
#define ENCLAVED_TEXT_H

#include <stddef.h>

/* Copies text (len bytes, NULs allowed) into out (cap >= 1), replacing
 * control and non-ASCII bytes with '?' and truncating to cap - 1, so app
 * text cannot forge log lines and is valid UTF-8 for protobuf strings.
 * Returns the length written (the NUL not counted). */
size_t text_sanitize(char *out, size_t cap, const char *text, size_t len);

#endif
