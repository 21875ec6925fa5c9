/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The libFuzzer entry point every fuzz_<parser>.c defines; replay_main.c
 * calls it for each corpus file when libFuzzer is not linked. */
#ifndef ENCLAVED_TEST_FUZZ_H
#define ENCLAVED_TEST_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
