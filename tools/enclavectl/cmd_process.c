/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* enclavectl process create, list and destroy. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

enum {
    MAX_SOURCE_LEN = 16 * 1024 * 1024,
    OPT_NAME = CTL_OPT_BASE + 32,
    OPT_MEMORY,
    OPT_CODE_HASH,
};

const struct cli_option cmd_process_create_options[] = {
    {"name", required_argument, OPT_NAME, "NAME", "the process name (FILE without .lua)"},
    {"memory", required_argument, OPT_MEMORY, "BYTES",
     "memory limit; k, M, G suffixes; 0 = the server's default"},
    {NULL, 0, 0, NULL, NULL},
};

const struct cli_option cmd_process_destroy_options[] = {
    {"code-hash", required_argument, OPT_CODE_HASH, "HEX", "the oldest process with this hash"},
    {NULL, 0, 0, NULL, NULL},
};

/* Reads a whole file into a malloc'd buffer. */
static int read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;

    if (f == NULL) {
        fprintf(stderr, "enclavectl: cannot open %s: %s\n", path, strerror(errno));
        return EXIT_LOCAL;
    }
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 65536;
            uint8_t *grown = cap <= MAX_SOURCE_LEN ? realloc(buf, cap) : NULL;
            if (grown == NULL) {
                fprintf(stderr, "enclavectl: %s is too large\n", path);
                free(buf);
                fclose(f);
                return EXIT_LOCAL;
            }
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0) {
            break;
        }
        n += got;
    }
    if (ferror(f)) {
        fprintf(stderr, "enclavectl: cannot read %s\n", path);
        free(buf);
        fclose(f);
        return EXIT_LOCAL;
    }
    fclose(f);
    *out = buf;
    *len = n;
    return EXIT_OK;
}


struct create_opts {
    const char *name;
    uint64_t memory;
};

static void create_option(void *ctx, int val, const char *value)
{
    struct create_opts *o = ctx;

    if (val == OPT_NAME) {
        o->name = value;
    } else if (val == OPT_MEMORY) {
        if (cli_parse_u64(value, 1, UINT64_MAX, &o->memory) != 0) {
            ctl_die_usage("--memory must be a number of bytes (k, M, G allowed), not '%s'",
                          value);
        }
    }
}

int cmd_process_create(struct ctl *ctl, int argc, char **argv)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ProcessCreate body = ENCLAVED__PROCESS_CREATE__INIT;
    Enclaved__ServerFrame *f = NULL;
    struct create_opts o = {NULL, 0};
    const char *file;
    char fallback[65];
    uint8_t *source = NULL;
    size_t len = 0;
    int first = ctl_parse(ctl, argc, argv, create_option, &o);
    int rc;

    if (first >= argc) {
        ctl_die_usage("process create needs a FILE");
    }
    file = argv[first];
    ctl_reject_operands(argc, argv, first + 1);
    if (o.name == NULL) {
        cli_app_name(file, fallback, sizeof(fallback));
        o.name = fallback;
    }
    rc = read_file(file, &source, &len);
    if (rc != EXIT_OK) {
        return rc;
    }
    body.lua_source.data = source;
    body.lua_source.len = len;
    body.name = (char *)o.name;
    body.memory_limit = o.memory;
    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_CREATE;
    req.process_create = &body;
    rc = ctl_call(ctl, &req, ENCLAVED__RESPONSE__RESULT_PROCESS_CREATED, &f);
    free(source);
    if (rc != EXIT_OK) {
        return rc;
    }
    Enclaved__ProcessCreated *pc = f->response->process_created;
    if (ctl->json) {
        printf("{\"process_id\":%u,\"name\":", pc->process_id);
        ctl_print_json_cstr(stdout, o.name);
        printf(",\"code_hash\":\"");
        ctl_print_hex(stdout, pc->code_hash.data, pc->code_hash.len);
        printf("\"}\n");
    } else {
        printf("process_id  %u\ncode_hash   ", pc->process_id);
        ctl_print_hex(stdout, pc->code_hash.data, pc->code_hash.len);
        printf("\n");
    }
    client_frame_free(f);
    return EXIT_OK;
}

static void format_time(uint64_t micros, char *buf, size_t cap)
{
    time_t secs = (time_t)(micros / 1000000u);
    struct tm tm;

    if (gmtime_r(&secs, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(buf, cap, "?");
    }
}

int cmd_process_list(struct ctl *ctl, int argc, char **argv)
{
    Enclaved__ServerFrame *f = NULL;
    Enclaved__ProcessListResult *list;
    char when[32];
    int rc;

    ctl_reject_operands(argc, argv, ctl_parse(ctl, argc, argv, NULL, NULL));
    rc = ctl_list_processes(ctl, &f);
    if (rc != EXIT_OK) {
        return rc;
    }
    list = f->response->process_list;
    if (ctl->json) {
        printf("{\"processes\":[");
    } else {
        printf("%-6s %-20s %-64s %8s %12s  %s\n", "ID", "NAME", "CODE HASH", "CHANNELS",
               "MEMORY", "CREATED");
    }
    for (size_t i = 0; i < list->n_processes; i++) {
        Enclaved__ProcessInfo *p = list->processes[i];
        if (ctl->json) {
            printf("%s{\"process_id\":%u,\"name\":", i ? "," : "", p->process_id);
            ctl_print_json_cstr(stdout, p->name);
            printf(",\"code_hash\":\"");
            ctl_print_hex(stdout, p->code_hash.data, p->code_hash.len);
            printf("\",\"channels\":%u,\"memory_used\":%" PRIu64 ",\"created_at_micros\":%" PRIu64
                   "}",
                   p->channels, p->memory_used, p->created_at_micros);
        } else {
            format_time(p->created_at_micros, when, sizeof(when));
            printf("%-6u %-20s ", p->process_id, p->name);
            ctl_print_hex(stdout, p->code_hash.data, p->code_hash.len);
            printf(" %8u %12" PRIu64 "  %s\n", p->channels, p->memory_used, when);
        }
    }
    if (ctl->json) {
        printf("]}\n");
    }
    client_frame_free(f);
    return EXIT_OK;
}

struct destroy_opts {
    int by_hash;
    uint8_t hash[CTL_HASH_LEN];
};

static void destroy_option(void *ctx, int val, const char *value)
{
    struct destroy_opts *o = ctx;

    if (val == OPT_CODE_HASH) {
        if (o->by_hash) {
            ctl_die_usage("give one process id or one --code-hash");
        }
        ctl_parse_hex("--code-hash", value, o->hash, sizeof(o->hash));
        o->by_hash = 1;
    }
}

int cmd_process_destroy(struct ctl *ctl, int argc, char **argv)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ProcessDestroy body = ENCLAVED__PROCESS_DESTROY__INIT;
    Enclaved__ServerFrame *f = NULL;
    struct destroy_opts o;
    int first;
    int rc;

    memset(&o, 0, sizeof(o));
    first = ctl_parse(ctl, argc, argv, destroy_option, &o);
    if (argc - first + o.by_hash != 1) {
        ctl_die_usage("process destroy needs one ID or one --code-hash HEX");
    }
    if (o.by_hash) {
        body.target_case = ENCLAVED__PROCESS_DESTROY__TARGET_CODE_HASH;
        body.code_hash.data = o.hash;
        body.code_hash.len = sizeof(o.hash);
    } else {
        body.target_case = ENCLAVED__PROCESS_DESTROY__TARGET_PROCESS_ID;
        body.process_id = ctl_parse_u32("the process id", argv[first]);
    }
    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_DESTROY;
    req.process_destroy = &body;
    rc = ctl_call(ctl, &req, ENCLAVED__RESPONSE__RESULT_PROCESS_DESTROYED, &f);
    if (rc != EXIT_OK) {
        return rc;
    }
    if (ctl->json) {
        printf("{\"process_id\":%u}\n", f->response->process_destroyed->process_id);
    } else {
        printf("destroyed process %u\n", f->response->process_destroyed->process_id);
    }
    client_frame_free(f);
    return EXIT_OK;
}
