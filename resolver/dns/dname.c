/*
 * Wire-name helpers. Deliberately tiny and allocation-free: they run on every
 * query. ldns offers ldns_rdf-based equivalents, but those allocate per call.
 */
#include "dns/dname.h"

#include <stdio.h>
#include <string.h>

size_t dname_wire_len(const uint8_t *name, size_t max)
{
	size_t pos = 0;
	for (;;) {
		if (pos >= max)
			return 0;
		uint8_t len = name[pos];
		if (len == 0)
			break;
		if (len > 63) /* compression pointer or reserved label type */
			return 0;
		pos += 1u + len;
		if (pos >= ER_DNAME_MAX)
			return 0;
	}
	return pos + 1;
}

/* RFC 4343: only A-Z fold; tolower() would also fold high bytes in some
 * locales and make the comparison depend on setlocale(). */
static uint8_t ascii_lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c - 'A' + 'a') : c;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int hexval_decimal(const char *p)
{
	if (!is_digit(p[0]) || !is_digit(p[1]) || !is_digit(p[2]))
		return -1;
	int v = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	return v > 255 ? -1 : v;
}

size_t dname_from_text(const char *text, uint8_t out[ER_DNAME_MAX])
{
	if (strcmp(text, ".") == 0) {
		out[0] = 0;
		return 1;
	}
	size_t pos = 0; /* where the current label's length byte goes */
	size_t label = 0;
	const char *p = text;
	if (*p == '\0' || *p == '.')
		return 0;
	while (*p) {
		if (*p == '.') {
			if (label == 0)
				return 0; /* empty label */
			out[pos] = (uint8_t)label;
			pos += 1 + label;
			label = 0;
			p++;
			if (*p == '\0')
				break; /* trailing dot */
			continue;
		}
		int byte = (unsigned char)*p;
		if (*p == '\\') {
			int dec = hexval_decimal(p + 1);
			if (dec >= 0) {
				byte = dec;
				p += 3;
			} else if (is_digit(p[1]) || p[1] == '\0') {
				return 0; /* \DDD needs 3 digits <= 255; a lone \ at the end */
			} else {
				byte = (unsigned char)p[1];
				p += 1;
			}
		}
		if (label == 63 || pos + 1 + label + 1 >= ER_DNAME_MAX)
			return 0;
		out[pos + 1 + label] = (uint8_t)byte;
		label++;
		p++;
	}
	if (label > 0) {
		out[pos] = (uint8_t)label;
		pos += 1 + label;
	}
	if (pos + 1 > ER_DNAME_MAX)
		return 0;
	out[pos] = 0;
	return pos + 1;
}

void dname_to_text(const uint8_t *name, char out[ER_DNAME_TEXT_MAX])
{
	size_t o = 0;
	if (name[0] == 0) {
		strcpy(out, ".");
		return;
	}
	for (const uint8_t *p = name; *p != 0; p += 1 + *p) {
		if (p != name)
			out[o++] = '.';
		for (uint8_t i = 1; i <= *p; i++) {
			uint8_t c = p[i];
			if (c == '.' || c == '\\' || c == '"' || c == ';' || c == '(' || c == ')') {
				out[o++] = '\\';
				out[o++] = (char)c;
			} else if (c <= 0x20 || c >= 0x7f) {
				o += (size_t)snprintf(out + o, 5, "\\%03u", c);
			} else {
				out[o++] = (char)c;
			}
		}
	}
	out[o] = '\0';
}

bool dname_equal(const uint8_t *a, const uint8_t *b)
{
	for (;;) {
		if (*a != *b)
			return false;
		if (*a == 0)
			return true;
		for (uint8_t i = 1; i <= *a; i++) {
			if (ascii_lower(a[i]) != ascii_lower(b[i]))
				return false;
		}
		a += 1 + *a;
		b += 1 + *b;
	}
}

void dname_to_lower(uint8_t *name)
{
	for (uint8_t *p = name; *p != 0; p += 1 + *p) {
		for (uint8_t i = 1; i <= *p; i++)
			p[i] = ascii_lower(p[i]);
	}
}

size_t dname_label_count(const uint8_t *name)
{
	size_t n = 0;
	for (const uint8_t *p = name; *p != 0; p += 1 + *p)
		n++;
	return n;
}

bool dname_is_subdomain(const uint8_t *name, const uint8_t *apex)
{
	size_t n = dname_label_count(name);
	size_t a = dname_label_count(apex);
	if (a > n)
		return false;
	const uint8_t *p = name;
	for (size_t skip = n - a; skip > 0; skip--)
		p += 1 + *p;
	return dname_equal(p, apex);
}
