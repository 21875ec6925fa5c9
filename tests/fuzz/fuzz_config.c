/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Targets config_parse, config_validate and config_set. */
#include <stdlib.h>
#include <string.h>

#include "image/config.h"
#include "fuzz.h"
#include "base/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config cfg;
    char err[CONFIG_ERROR_MAX];
    const uint8_t *nul = memchr(data, '\0', size);

    status_trail_reset();
    config_defaults(&cfg);
    err[0] = '\0';
    if (config_parse(&cfg, (const char *)data, size, err, sizeof(err)) != STATUS_OK) {
        ENCLAVED_ASSERT(strncmp(err, "line ", 5) == 0 || strncmp(err, "config is over", 14) == 0);
    } else {
        ENCLAVED_ASSERT(memchr(cfg.listen_host, '\0', sizeof(cfg.listen_host)) != NULL);
        if (config_validate(&cfg, err, sizeof(err)) == STATUS_OK) {
            ENCLAVED_ASSERT((uint64_t)cfg.max_message + 1024 <= cfg.max_frame);
            ENCLAVED_ASSERT(cfg.default_memory_per_process <= cfg.max_memory_per_process);
        }
    }
    /* "key\0value": config_set directly, as the command line does. */
    if (nul != NULL && size < CONFIG_LINE_MAX) {
        char buf[CONFIG_LINE_MAX + 1];

        memcpy(buf, data, size);
        buf[size] = '\0';
        config_defaults(&cfg);
        config_set(&cfg, buf, buf + (nul - data) + 1, err, sizeof(err));
    }
    return 0;
}
