/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "base/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cli_build(const struct cli_option *const *tables, struct option *out, size_t cap,
               char *shortopts, size_t shortopts_cap)
{
    size_t n = 0;
    size_t s = 0;

    if (shortopts_cap < 2) {
        abort();
    }
    shortopts[s++] = ':';
    for (size_t t = 0; tables[t] != NULL; t++) {
        for (const struct cli_option *o = tables[t]; o->name != NULL; o++) {
            if (n + 1 >= cap) {
                abort();
            }
            out[n].name = o->name;
            out[n].has_arg = o->has_arg;
            out[n].flag = NULL;
            out[n].val = o->val;
            n++;
            if (o->val > 0 && o->val < 128) {
                if (s + 3 >= shortopts_cap) {
                    abort();
                }
                shortopts[s++] = (char)o->val;
                if (o->has_arg == required_argument) {
                    shortopts[s++] = ':';
                }
            }
        }
    }
    memset(&out[n], 0, sizeof(out[n]));
    shortopts[s] = '\0';
}

int cli_next(const char *prog, int argc, char **argv, const char *shortopts,
             const struct option *longopts)
{
    int c;

    opterr = 0;
    c = getopt_long(argc, argv, shortopts, longopts, NULL);
    if (c == '?' || c == ':') {
        /* optind has moved past the offending word; for "-x" inside a group
         * of short options, optopt names the letter. */
        const char *word = argv[optind - 1];
        if (c == '?') {
            const char *eq = strchr(word, '=');
            if (optopt != 0 && word[0] == '-' && word[1] == '-' && eq != NULL) {
                fprintf(stderr, "%s: option '%.*s' takes no value (try --help)\n", prog,
                        (int)(eq - word), word);
            } else if (optopt != 0 && (word[0] != '-' || word[1] != '-')) {
                fprintf(stderr, "%s: unknown option '-%c' (try --help)\n", prog, optopt);
            } else {
                fprintf(stderr, "%s: unknown or ambiguous option '%s' (try --help)\n", prog,
                        word);
            }
        } else {
            fprintf(stderr, "%s: option '%s' needs a value (try --help)\n", prog, word);
        }
        return CLI_EXIT_USAGE;
    }
    return c;
}

void cli_print_options(FILE *out, const struct cli_option *table)
{
    for (const struct cli_option *o = table; o->name != NULL; o++) {
        char left[64];
        int n;

        if (o->val > 0 && o->val < 128) {
            n = snprintf(left, sizeof(left), "-%c, --%s", o->val, o->name);
        } else {
            n = snprintf(left, sizeof(left), "    --%s", o->name);
        }
        if (o->arg != NULL && n > 0 && (size_t)n < sizeof(left)) {
            snprintf(left + n, sizeof(left) - (size_t)n, "=%s", o->arg);
        }
        if (strlen(left) <= 26) {
            fprintf(out, "  %-26s %s\n", left, o->help);
        } else {
            fprintf(out, "  %s\n  %-26s %s\n", left, "", o->help);
        }
    }
}

void cli_die_usage(const char *prog, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try --help)\n");
    exit(CLI_EXIT_USAGE);
}

int cli_parse_u64(const char *text, int sizes, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;
    unsigned shift = 0;

    /* strtoull alone takes blanks, signs and wraps "-1"; demand a digit. */
    if (text[0] < '0' || text[0] > '9') {
        return -1;
    }
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0) {
        return -1;
    }
    if (sizes && (*end == 'k' || *end == 'K')) {
        shift = 10;
    } else if (sizes && (*end == 'm' || *end == 'M')) {
        shift = 20;
    } else if (sizes && (*end == 'g' || *end == 'G')) {
        shift = 30;
    }
    if (shift != 0) {
        if (v > (UINT64_MAX >> shift)) {
            return -1;
        }
        v <<= shift;
        end++;
    }
    if (*end != '\0' || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

void cli_app_name(const char *path, char *name, size_t cap)
{
    const char *base = strrchr(path, '/');
    size_t len;

    base = base != NULL ? base + 1 : path;
    len = strlen(base);
    if (len > 4 && strcmp(base + len - 4, ".lua") == 0) {
        len -= 4;
    }
    snprintf(name, cap, "%.*s", (int)len, base);
}
