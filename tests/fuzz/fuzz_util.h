/*
 * Helpers shared by the file-driven fuzz targets (config, m365, zone).
 *
 * The parsers under test take a path, not a buffer, so each input is written
 * to a file first. Every process gets its own directory (mkdtemp, created on
 * first use and removed recursively at exit), which keeps parallel ctest runs
 * and libFuzzer's -jobs/-fork workers from trampling each other's files.
 * Rejected: fmemopen or /dev/fd tricks, which would bypass the open/read code
 * the daemon actually runs.
 */
#ifndef ERDNS_FUZZ_UTIL_H
#define ERDNS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The per-process directory ("/tmp/erdns-fuzz-XXXXXX", or under $TMPDIR).
 * Aborts when it cannot be made: the target cannot run without it. */
const char *fuzz_tmpdir(void);

/* fuzz_tmpdir()/rel, into out (cap bytes). Aborts when it does not fit. */
void fuzz_path(char *out, size_t cap, const char *rel);

/* Writes exactly size bytes to path (replacing it). Aborts on failure: a
 * full disk is not a finding of the parser. */
void fuzz_write_file(const char *path, const void *data, size_t size);

#endif
