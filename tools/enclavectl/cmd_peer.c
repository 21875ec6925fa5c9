/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* enclavectl peer connect and list: the server-owned peer links of DESIGN §7. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

enum { OPT_PEER_CODE_HASH = CTL_OPT_BASE + 64 };

const struct cli_option cmd_peer_connect_options[] = {
    {"code-hash", required_argument, OPT_PEER_CODE_HASH, "HEX",
     "the app's code hash (both members run it)"},
    {NULL, 0, 0, NULL, NULL},
};

struct connect_opts {
    uint8_t hash[CTL_HASH_LEN];
    int have_hash;
};

static void connect_option(void *ctx, int val, const char *value)
{
    struct connect_opts *o = ctx;

    if (val == OPT_PEER_CODE_HASH) {
        ctl_parse_hex("--code-hash", value, o->hash, sizeof(o->hash));
        o->have_hash = 1;
    }
}

int cmd_peer_connect(struct ctl *ctl, int argc, char **argv)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__PeerConnect body = ENCLAVED__PEER_CONNECT__INIT;
    Enclaved__ServerFrame *f = NULL;
    struct connect_opts o;
    int first;
    int rc;

    memset(&o, 0, sizeof(o));
    first = ctl_parse(ctl, argc, argv, connect_option, &o);
    if (first >= argc) {
        ctl_die_usage("peer connect needs an ADDRESS (HOST:PORT)");
    }
    ctl_reject_operands(argc, argv, first + 1);
    if (!o.have_hash) {
        ctl_die_usage("peer connect needs --code-hash HEX");
    }
    body.address = argv[first];
    body.code_hash.data = o.hash;
    body.code_hash.len = sizeof(o.hash);
    req.body_case = ENCLAVED__REQUEST__BODY_PEER_CONNECT;
    req.peer_connect = &body;
    rc = ctl_call(ctl, &req, ENCLAVED__RESPONSE__RESULT_PEER_CONNECTED, &f);
    if (rc != EXIT_OK) {
        return rc;
    }
    if (ctl->json) {
        printf("{\"link_id\":%u}\n", f->response->peer_connected->link_id);
    } else {
        printf("link_id  %u\n", f->response->peer_connected->link_id);
    }
    client_frame_free(f);
    return EXIT_OK;
}

static void format_since(uint64_t micros, char *buf, size_t cap)
{
    time_t secs = (time_t)(micros / 1000000u);
    struct tm tm;

    if (micros == 0 || gmtime_r(&secs, &tm) == NULL ||
        strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(buf, cap, "-");
    }
}

static void print_link_json(const Enclaved__PeerLinkInfo *l, int first)
{
    printf("%s{\"link_id\":%u,\"address\":", first ? "" : ",", l->link_id);
    ctl_print_json_cstr(stdout, l->address);
    printf(",\"code_hash\":\"");
    ctl_print_hex(stdout, l->code_hash.data, l->code_hash.len);
    printf("\",\"state\":");
    ctl_print_json_cstr(stdout, l->state);
    printf(",\"origin\":");
    ctl_print_json_cstr(stdout, l->origin);
    printf(",\"channel_id\":%u,\"remote_channel_id\":%u,\"failures\":%u,\"last_error\":",
           l->channel_id, l->remote_channel_id, l->failures);
    ctl_print_json_cstr(stdout, l->last_error);
    printf(",\"since_micros\":%" PRIu64 ",\"messages_in\":%" PRIu64 ",\"messages_out\":%" PRIu64
           ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64 "}",
           l->since_micros, l->messages_in, l->messages_out, l->bytes_in, l->bytes_out);
}

int cmd_peer_list(struct ctl *ctl, int argc, char **argv)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__GetStats body = ENCLAVED__GET_STATS__INIT;
    Enclaved__ServerFrame *f = NULL;
    Enclaved__Stats *st;
    char since[32];
    int rc;

    ctl_reject_operands(argc, argv, ctl_parse(ctl, argc, argv, NULL, NULL));
    req.body_case = ENCLAVED__REQUEST__BODY_GET_STATS;
    req.get_stats = &body;
    rc = ctl_call(ctl, &req, ENCLAVED__RESPONSE__RESULT_STATS, &f);
    if (rc != EXIT_OK) {
        return rc;
    }
    st = f->response->stats;
    if (ctl->json) {
        printf("{\"peer_links\":[");
    } else {
        printf("%-4s %-21s %-16s %-10s %7s %9s %9s %11s %11s  %-20s  %s\n", "ID", "ADDRESS",
               "CODE HASH", "STATE", "CHANNEL", "MSGS IN", "MSGS OUT", "BYTES IN", "BYTES OUT",
               "SINCE", "LAST ERROR");
    }
    for (size_t i = 0; i < st->n_peer_links; i++) {
        const Enclaved__PeerLinkInfo *l = st->peer_links[i];

        if (ctl->json) {
            print_link_json(l, i == 0);
            continue;
        }
        format_since(l->since_micros, since, sizeof(since));
        printf("%-4u %-21s ", l->link_id, l->address);
        /* The first 8 bytes tell apps apart; --json has the whole hash. */
        ctl_print_hex(stdout, l->code_hash.data, l->code_hash.len < 8 ? l->code_hash.len : 8);
        printf(" %-10s %7u %9" PRIu64 " %9" PRIu64 " %11" PRIu64 " %11" PRIu64 "  %-20s  %s\n",
               l->state, l->channel_id, l->messages_in, l->messages_out, l->bytes_in,
               l->bytes_out, since, l->last_error[0] ? l->last_error : "-");
    }
    if (ctl->json) {
        printf("]}\n");
    }
    client_frame_free(f);
    return EXIT_OK;
}
