/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Command-line options for every binary of the project (enclaved and the
 * tools): one table per program gives each long option its getopt_long entry,
 * the name of its value and one line of help, so parsing (glibc getopt_long:
 * "--opt=value" and "--opt value", "--" ends the options, unambiguous
 * abbreviations accepted) and the usage text come from the same rows.
 * It does not parse values beyond numbers and sizes; callers check ranges.
 *
 * Ownership: tables are static and borrowed; nothing is allocated.
 * getopt_long's globals (optind, optarg) make it single-threaded.
 */
#ifndef ENCLAVED_CLI_H
#define ENCLAVED_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum {
    /* Exit code for a usage error, shared by every binary. */
    CLI_EXIT_USAGE = 2,
    /* The most options one getopt_long run takes (all tables together). */
    CLI_MAX_OPTIONS = 96,
};

/* One row: the long name, no_argument or required_argument, the value
 * getopt_long returns (a short option letter, or a number >= 256), the value's
 * name in usage text ("ADDR"; NULL for a flag) and one line of help. */
struct cli_option {
    const char *name;
    int has_arg;
    int val;
    const char *arg;
    const char *help;
};

/* Concatenates the NULL-name-terminated tables (the list ends with NULL)
 * into out, a getopt_long array of cap entries ending with a zero row, and
 * returns the short-option string for getopt_long into shortopts (":" first,
 * so a missing value is reported as ':'). Aborts if cap or shortopts_cap is
 * too small: the tables are static, so that is a programming error. */
void cli_build(const struct cli_option *const *tables, struct option *out, size_t cap,
               char *shortopts, size_t shortopts_cap);

/* Runs getopt_long once over argv with options built by cli_build. Returns
 * the option's val, -1 at the end of the options, or CLI_EXIT_USAGE after
 * printing "PROG: unknown option '--x'" or "PROG: option '--x' needs a value"
 * (with " (try --help)") on stderr. Set optind = 0 before the first call of
 * each parse. */
int cli_next(const char *prog, int argc, char **argv, const char *shortopts,
             const struct option *longopts);

/* Prints the rows of a table as "  -x, --name=ARG   help" lines. */
void cli_print_options(FILE *out, const struct cli_option *table);

/* Prints "PROG: message (try --help)" on stderr and exits CLI_EXIT_USAGE. */
void cli_die_usage(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* Parses a decimal number up to max, with an optional binary suffix k, M or
 * G (as etc/enclaved.conf takes) when sizes is set. 0 on success, -1 for
 * anything else (signs, blanks, trailing text, overflow); *out untouched then. */
int cli_parse_u64(const char *text, int sizes, uint64_t max, uint64_t *out);

/* The default process name of an app file (`process create`, `app run`):
 * its base name without ".lua", truncated to cap - 1 bytes. */
void cli_app_name(const char *path, char *name, size_t cap);

#endif
