/*
 * Domain names in uncompressed wire form (length-prefixed labels ending in
 * the root label), as they appear in a question. All comparisons are
 * ASCII-case-insensitive (RFC 4343); bytes are otherwise opaque.
 */
#ifndef ERDNS_DNS_DNAME_H
#define ERDNS_DNS_DNAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ER_DNAME_MAX 255 /* RFC 1035 2.3.4 */
#define ER_DNAME_TEXT_MAX 1024 /* every byte escaped as \DDD, plus dots */
#define ER_LABELS_MAX 128

/* Length of the wire name at name (including the root byte), reading at most
 * max bytes; 0 if it is malformed, compressed or longer than 255. */
size_t dname_wire_len(const uint8_t *name, size_t max);

/* Text ("www.Example.com" or "www.example.com.") to wire. Escapes \. and
 * \DDD are honoured. Returns the wire length, or 0 for an invalid name. */
size_t dname_from_text(const char *text, uint8_t out[ER_DNAME_MAX]);

/* Wire to text without the trailing dot ("." for the root); non-printable
 * bytes, dots and backslashes inside labels are escaped as in master files. */
void dname_to_text(const uint8_t *name, char out[ER_DNAME_TEXT_MAX]);

bool dname_equal(const uint8_t *a, const uint8_t *b);
/* Lower-cases a wire name in place (labels only). */
void dname_to_lower(uint8_t *name);
/* Number of labels, not counting the root. */
size_t dname_label_count(const uint8_t *name);
/* True when name equals apex or lies below it. */
bool dname_is_subdomain(const uint8_t *name, const uint8_t *apex);

#endif
