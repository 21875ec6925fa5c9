/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The enclaved client library: a blocking TCP client with timeouts, used by
 * enclavectl, enclave-bench and the end-to-end tests. One struct client is
 * one connection; requests are matched to responses by id, and ChannelData /
 * ChannelClosed frames that arrive while waiting are queued as events.
 *
 * Ownership: client_connect allocates, client_free releases. Every
 * Enclaved__ServerFrame handed out is owned by the caller and released with
 * client_frame_free. Requests passed in are borrowed for the call. Not
 * thread-safe: one thread per client.
 */
#ifndef ENCLAVED_CLIENT_H
#define ENCLAVED_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "enclaved.pb-c.h"
#include "base/status.h"

enum { CLIENT_DEFAULT_TIMEOUT_MS = 5000, CLIENT_MAX_FRAME = 64 * 1024 * 1024 };

struct client;

/* Connects to host:port (IPv4 dotted or "localhost"). UNAVAILABLE when the
 * connection is refused, DEADLINE_EXCEEDED on timeout. *out untouched on failure. */
status_t client_connect(const char *host, uint16_t port, int timeout_ms, struct client **out);
void client_free(struct client *c);
/* The connection's socket, for poll(2) together with other inputs (wait for
 * POLLIN, then call a receive function with timeout 0). Read and write it
 * only through this library. */
int client_fd(const struct client *c);
/* Timeout for every later blocking call, in ms. */
void client_set_timeout(struct client *c, int timeout_ms);
int client_get_timeout(const struct client *c);

/* Sends a request (its id is assigned here) and waits for the Response with
 * that id; frames that arrive first are queued as events. *out is the whole
 * ServerFrame (free with client_frame_free); its response->status may be an
 * error: the return value reports only transport failures. */
status_t client_call(struct client *c, Enclaved__Request *req, Enclaved__ServerFrame **out);
/* Next queued or incoming ChannelData / ChannelClosed (or an unmatched
 * Response, e.g. a protocol error with id 0). DEADLINE_EXCEEDED on timeout. */
status_t client_next_event(struct client *c, int timeout_ms, Enclaved__ServerFrame **out);
void client_frame_free(Enclaved__ServerFrame *f);

/* Sends ChannelData / ChannelClose (no response is awaited). */
status_t client_send_data(struct client *c, uint32_t channel_id, const uint8_t *data, size_t len);
status_t client_send_close(struct client *c, uint32_t channel_id);
/* Sends raw bytes as they are (tests of hostile input). */
status_t client_send_raw(struct client *c, const uint8_t *data, size_t len);
/* Reads the next frame from the socket, bypassing the queue. */
status_t client_read_frame(struct client *c, int timeout_ms, Enclaved__ServerFrame **out);
/* 1 if the server closed the connection (read returns EOF within timeout_ms). */
int client_wait_closed(struct client *c, int timeout_ms);

/* Convenience calls. They return the transport status, or the Response
 * status when the transport worked; message (if not NULL) gets the
 * Response message, bounded. */
status_t client_ping(struct client *c);
status_t client_get_info(struct client *c, Enclaved__ServerFrame **out);
status_t client_process_create(struct client *c, const char *name, const uint8_t *source,
                               size_t len, uint64_t memory_limit, uint32_t *process_id,
                               uint8_t code_hash[32], char *message, size_t message_cap);
status_t client_channel_open(struct client *c, uint32_t process_id, const uint8_t *code_hash,
                             Enclaved__ChannelType type, uint32_t *channel_id, char *message,
                             size_t message_cap);
/* Waits for the next ChannelData on channel_id (other events stay queued).
 * A ChannelClosed for it returns its status (never OK) with the reason. */
status_t client_channel_recv(struct client *c, uint32_t channel_id, int timeout_ms,
                             uint8_t **data, size_t *len, char *reason, size_t reason_cap);
/* Waits for the ChannelClosed of channel_id; *status gets its status. */
status_t client_channel_wait_closed(struct client *c, uint32_t channel_id, int timeout_ms,
                                    status_t *status, char *reason, size_t reason_cap);

#endif
