/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The channel types as Lua apps see them (DESIGN §5): the CHAN_* constants
 * the sandbox defines and the second argument of HandleChannelCreate, the
 * values of Signal's HsmEnclave. One list gives the enum and the sandbox's
 * constants; core/channel.h maps each channel type onto one of them.
 */
#ifndef ENCLAVED_CHANTYPE_H
#define ENCLAVED_CHANTYPE_H

/* X(name, value): Lua sees CHAN_<name> = value. */
#define PROCESS_CHAN_LIST(X) \
    X(UNENCRYPTED, 1)        \
    X(CLIENT_NK, 2)          \
    X(SERVER_KK, 3)

enum process_chan_type {
#define PROCESS_CHAN_ENUM(name, value) PROCESS_CHAN_##name = value,
    PROCESS_CHAN_LIST(PROCESS_CHAN_ENUM)
#undef PROCESS_CHAN_ENUM
};

#endif
