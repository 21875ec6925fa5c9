/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Runs a fuzz target over saved inputs without libFuzzer, so every meson test
 * run replays the corpus (STYLE §3.8). Each argument is a file or a directory
 * whose regular files are replayed in name order; the empty input runs once.
 * Exits non-zero if an argument cannot be read; crashes and sanitizer
 * reports fail the test on their own.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long len;
    int rc = -1;

    if (f == NULL) {
        perror(path);
        return -1;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        /* One spare byte so malloc(0) never happens and reads stay in bounds. */
        buf = malloc((size_t)len + 1);
        if (buf != NULL && fread(buf, 1, (size_t)len, f) == (size_t)len) {
            /* Hand the target an exact-size copy so ASan sees overreads. */
            uint8_t *exact = malloc((size_t)len + (len == 0));
            if (exact != NULL) {
                memcpy(exact, buf, (size_t)len);
                LLVMFuzzerTestOneInput(exact, (size_t)len);
                free(exact);
                rc = 0;
            }
        }
    }
    if (rc != 0) {
        fprintf(stderr, "%s: cannot read\n", path);
    }
    free(buf);
    fclose(f);
    return rc;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int replay_dir(const char *dir, size_t *count)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, by_name);
    int rc = 0;
    char path[4096];
    struct stat st;

    if (n < 0) {
        perror(dir);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            rc |= replay_file(path);
            (*count)++;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    size_t count = 0;
    int rc = 0;
    struct stat st;

    LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
    for (int i = 1; i < argc; i++) {
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            rc |= replay_dir(argv[i], &count);
        } else {
            rc |= replay_file(argv[i]);
            count++;
        }
    }
    printf("replayed %zu inputs\n", count);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
