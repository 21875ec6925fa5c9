/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Status codes and error context for the whole server (STYLE §3.3).
 *
 * One X-macro list gives every code its name, gRPC number and default message;
 * the enum, status_name() and status_message() come from it, and the Lua
 * STATUS_* constants too. proto/enclaved.proto owns the numbers; a unit test
 * checks this list against protobuf-c's descriptor.
 *
 * Failing sites record a string literal and file:line in a small fixed trail
 * without allocating. Each thread has its own trail, so the key-pool worker
 * (crypto/keypool.c) never writes into the loop's. The trail is reset only
 * where a unit of work starts (driver callbacks, boot); the code that
 * handles a failure (logs it, answers it, closes a channel with it) takes
 * it with status_trail_take, which leaves the trail empty for the next one.
 * Ownership: the trail holds only pointers to string literals, plus one
 * bounded copy of dynamic detail text (a Lua error message).
 */
#ifndef ENCLAVED_STATUS_H
#define ENCLAVED_STATUS_H

#include <stddef.h>

#define STATUS_LIST(X)                                              \
    X(OK, 0, "ok")                                                  \
    X(CANCELLED, 1, "cancelled")                                    \
    X(UNKNOWN, 2, "unknown error")                                  \
    X(INVALID_ARGUMENT, 3, "invalid argument")                      \
    X(DEADLINE_EXCEEDED, 4, "deadline exceeded")                    \
    X(NOT_FOUND, 5, "not found")                                    \
    X(ALREADY_EXISTS, 6, "already exists")                          \
    X(PERMISSION_DENIED, 7, "permission denied")                    \
    X(RESOURCE_EXHAUSTED, 8, "resource exhausted")                  \
    X(FAILED_PRECONDITION, 9, "failed precondition")                \
    X(ABORTED, 10, "aborted")                                       \
    X(OUT_OF_RANGE, 11, "out of range")                             \
    X(UNIMPLEMENTED, 12, "unimplemented")                           \
    X(INTERNAL, 13, "internal error")                               \
    X(UNAVAILABLE, 14, "unavailable")                               \
    X(DATA_LOSS, 15, "data loss")                                   \
    X(UNAUTHENTICATED, 16, "unauthenticated")

typedef enum {
#define STATUS_ENUM(name, num, msg) STATUS_##name = num,
    STATUS_LIST(STATUS_ENUM)
#undef STATUS_ENUM
} status_t;

/* The codes are numbered 0 .. STATUS_COUNT - 1 without gaps (gRPC's). */
enum {
#define STATUS_ONE(name, num, msg) +1
    STATUS_COUNT = 0 STATUS_LIST(STATUS_ONE),
#undef STATUS_ONE
};

enum { STATUS_TRAIL_SLOTS = 6, STATUS_DETAIL_CAP = 256, STATUS_TRAIL_TEXT_CAP = 768 };

/* A failure taken off the trail: what the wire gets, and what logs get. */
struct status_report {
    char message[STATUS_DETAIL_CAP];      /* the innermost message */
    char trail[STATUS_TRAIL_TEXT_CAP];    /* the whole trail, outermost first */
};

/* "INVALID_ARGUMENT"; "UNKNOWN_STATUS" for a number outside the list. */
const char *status_name(status_t s);
/* A short default message for the code. */
const char *status_message(status_t s);
/* True when s is one of the listed codes. */
int status_is_valid(int s);

/* Clears the trail; called where a unit of work starts (a driver callback,
 * boot), never below. */
void status_trail_reset(void);
/* Copies the trail into *r (message and whole trail) and clears it: the
 * caller now handles this failure. */
void status_trail_take(struct status_report *r);
/* Records why at file:line. why must be a string literal. Returns s. */
status_t status_trail_push(status_t s, const char *why, const char *file, int line);
/* Copies dynamic detail text (bounded, truncated) that replaces the innermost
 * message, e.g. a Lua error. Never pass secrets. */
void status_trail_set_detail(const char *text, size_t len);
/* The innermost message: the detail if set, else the first why, else "". */
const char *status_trail_message(void);
/* Writes the trail outermost first ("dispatch: process_new: ...") into buf. */
void status_trail_format(char *buf, size_t cap);

#define FAIL(code, why) \
    return status_trail_push((code), (why), __FILE__, __LINE__)

#define ENSURE(cond, code, why)       \
    do {                              \
        if (!(cond)) {                \
            FAIL((code), (why));      \
        }                             \
    } while (0)

#define TRY(expr)                                  \
    do {                                           \
        status_t try_status_ = (expr);             \
        if (try_status_ != STATUS_OK) {            \
            return try_status_;                    \
        }                                          \
    } while (0)

/* Broken invariants are not statuses: abort with file:line in every build. */
#define ENCLAVED_ASSERT(cond)                                           \
    do {                                                                \
        if (!(cond)) {                                                  \
            status_assert_failed(#cond, __FILE__, __LINE__);            \
        }                                                               \
    } while (0)

_Noreturn void status_assert_failed(const char *expr, const char *file, int line);

#endif
