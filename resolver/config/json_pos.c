/*
 * Positions for a cJSON tree. cJSON 1.7 records none, and its error pointer
 * is often a few characters off (inside a string, or at the last byte for an
 * unterminated one), so one small recursive-descent scanner serves twice:
 *
 *  - after cJSON accepted the text, it walks the text and the tree in
 *    lock-step (cJSON keeps member and element order) and records where each
 *    value and each key starts, in a table sorted by item address;
 *  - after cJSON rejected the text, it runs without a tree to find the first
 *    error and say what it is ("unterminated string", "trailing comma").
 *    Should it accept what cJSON rejected (an invalid surrogate pair), cJSON's
 *    own error pointer is reported.
 *
 * Its grammar is cJSON's: any byte <= 32 is whitespace, numbers are the
 * longest run of [0-9+-.eE] that strtod consumes whole. It is stricter in one
 * place: a raw newline or other control character inside a string is an
 * error, which turns a missing closing quote into "unterminated string" at
 * the opening quote instead of a puzzling error lines later.
 *
 * Rejected: patching cJSON or writing a full JSON parser; both duplicate
 * more code than this walk.
 */
#include "config/json_pos.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pos_entry {
	const cJSON *item;
	uint32_t line, col;
	uint32_t key_line, key_col; /* 0: no key */
} pos_entry_t;

struct json_pos {
	size_t n, cap;
	pos_entry_t *v;
};

#define NO_KEY SIZE_MAX

typedef struct scanner {
	const char *text;
	size_t off;
	/* locate() cursor: positions are mostly asked for in increasing order */
	size_t loc_off;
	uint32_t loc_line, loc_col;
	json_pos_t *map; /* NULL when only looking for an error */
	bool failed, nomem;
	size_t err_off;
	char err[128];
} scanner_t;

static bool scan_value(scanner_t *sc, const cJSON *item, unsigned depth, size_t key_off);

static void locate(scanner_t *sc, size_t off, uint32_t *line, uint32_t *col)
{
	if (off < sc->loc_off) {
		sc->loc_off = 0;
		sc->loc_line = 1;
		sc->loc_col = 1;
	}
	for (; sc->loc_off < off && sc->text[sc->loc_off] != '\0'; sc->loc_off++) {
		unsigned char b = (unsigned char)sc->text[sc->loc_off];
		if (b == '\n') {
			sc->loc_line++;
			sc->loc_col = 1;
		} else if ((b & 0xC0) != 0x80) { /* not a UTF-8 continuation byte */
			sc->loc_col++;
		}
	}
	*line = sc->loc_line;
	*col = sc->loc_col;
}

__attribute__((format(printf, 3, 4))) static bool fail_at(scanner_t *sc, size_t off,
							  const char *fmt, ...)
{
	if (sc->failed)
		return false;
	sc->failed = true;
	sc->err_off = off;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sc->err, sizeof(sc->err), fmt, ap);
	va_end(ap);
	return false;
}

/* "unexpected character 'x' (expected ...)" for whatever sits at off. */
static bool fail_unexpected(scanner_t *sc, size_t off, const char *expected)
{
	unsigned char c = (unsigned char)sc->text[off];
	if (c == '\0')
		return fail_at(sc, off, "unexpected end of input (expected %s)", expected);
	if (c > 32 && c < 127)
		return fail_at(sc, off, "unexpected character '%c' (expected %s)", c, expected);
	return fail_at(sc, off, "unexpected byte 0x%02x (expected %s)", c, expected);
}

static void skip_ws(scanner_t *sc)
{
	while (sc->text[sc->off] != '\0' && (unsigned char)sc->text[sc->off] <= 32)
		sc->off++;
}

static bool record(scanner_t *sc, const cJSON *item, size_t off, size_t key_off)
{
	json_pos_t *m = sc->map;
	if (m == NULL || item == NULL)
		return true;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		pos_entry_t *v = realloc(m->v, cap * sizeof(*v));
		if (v == NULL) {
			sc->nomem = true;
			return fail_at(sc, off, "out of memory");
		}
		m->v = v;
		m->cap = cap;
	}
	pos_entry_t *e = &m->v[m->n++];
	e->item = item;
	e->key_line = e->key_col = 0;
	if (key_off != NO_KEY)
		locate(sc, key_off, &e->key_line, &e->key_col);
	locate(sc, off, &e->line, &e->col);
	return true;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool scan_escape(scanner_t *sc)
{
	const char *p = sc->text + sc->off; /* at the backslash */
	if (p[1] != '\0' && strchr("\"\\/bfnrt", p[1]) != NULL) {
		sc->off += 2;
		return true;
	}
	if (p[1] == 'u' && is_hex(p[2]) && is_hex(p[3]) && is_hex(p[4]) && is_hex(p[5])) {
		sc->off += 6;
		return true;
	}
	return fail_at(sc, sc->off, "invalid escape sequence in string");
}

static bool scan_string(scanner_t *sc)
{
	size_t start = sc->off++;
	for (;;) {
		unsigned char c = (unsigned char)sc->text[sc->off];
		if (c == '"') {
			sc->off++;
			return true;
		}
		if (c == '\0' || c == '\n')
			return fail_at(sc, start, "unterminated string");
		if (c < 32)
			return fail_at(sc, sc->off,
				       "control character in string (write it as \\u%04x)", c);
		if (c == '\\') {
			if (!scan_escape(sc))
				return false;
		} else {
			sc->off++;
		}
	}
}

static bool scan_number(scanner_t *sc)
{
	size_t start = sc->off;
	size_t len = strspn(sc->text + start, "0123456789+-.eE");
	char buf[64];
	if (len >= sizeof(buf))
		return fail_at(sc, start, "invalid number");
	memcpy(buf, sc->text + start, len);
	buf[len] = '\0';
	char *end = NULL;
	(void)strtod(buf, &end);
	if (end != buf + len)
		return fail_at(sc, start, "invalid number");
	sc->off += len;
	return true;
}

static bool scan_literal(scanner_t *sc)
{
	static const char *const literals[] = {"true", "false", "null"};
	for (size_t i = 0; i < sizeof(literals) / sizeof(literals[0]); i++) {
		size_t len = strlen(literals[i]);
		if (strncmp(sc->text + sc->off, literals[i], len) == 0) {
			sc->off += len;
			return true;
		}
	}
	return fail_unexpected(sc, sc->off, "a value");
}

/* The next child of parent in step with the text; NULL when validating. */
static bool next_child(scanner_t *sc, const cJSON *parent, const cJSON **child)
{
	if (parent == NULL)
		return true;
	*child = *child != NULL ? (*child)->next : parent->child;
	if (*child == NULL)
		return fail_at(sc, sc->off, "parser disagreement (please report)");
	return true;
}

/* After a member or element: ',' and more, or the closing bracket. Returns
 * 1 to continue, 0 at the end, -1 on error. */
static int scan_separator(scanner_t *sc, char closer)
{
	skip_ws(sc);
	char c = sc->text[sc->off];
	if (c == closer) {
		sc->off++;
		return 0;
	}
	if (c != ',') {
		fail_unexpected(sc, sc->off, closer == '}' ? "',' or '}'" : "',' or ']'");
		return -1;
	}
	size_t comma = sc->off++;
	skip_ws(sc);
	if (sc->text[sc->off] == closer) {
		fail_at(sc, comma, "trailing comma before '%c'", closer);
		return -1;
	}
	return 1;
}

static bool scan_member(scanner_t *sc, const cJSON *child, unsigned depth)
{
	skip_ws(sc);
	if (sc->text[sc->off] != '"')
		return fail_unexpected(sc, sc->off, "a key in double quotes");
	size_t key_off = sc->off;
	if (!scan_string(sc))
		return false;
	skip_ws(sc);
	if (sc->text[sc->off] != ':')
		return fail_unexpected(sc, sc->off, "':' after the key");
	sc->off++;
	return scan_value(sc, child, depth + 1, key_off);
}

static bool scan_container(scanner_t *sc, const cJSON *item, unsigned depth)
{
	char closer = sc->text[sc->off] == '{' ? '}' : ']';
	if (depth >= ER_JSON_DEPTH_MAX)
		return fail_at(sc, sc->off, "nesting deeper than %d levels", ER_JSON_DEPTH_MAX);
	sc->off++;
	skip_ws(sc);
	const cJSON *child = NULL;
	int more = 1;
	if (sc->text[sc->off] == closer) {
		sc->off++;
		more = 0;
	}
	while (more > 0) {
		if (!next_child(sc, item, &child))
			return false;
		bool ok = closer == '}' ? scan_member(sc, child, depth)
					: scan_value(sc, child, depth + 1, NO_KEY);
		if (!ok)
			return false;
		more = scan_separator(sc, closer);
	}
	if (more < 0)
		return false;
	if (item != NULL && (child != NULL ? child->next : item->child) != NULL)
		return fail_at(sc, sc->off, "parser disagreement (please report)");
	return true;
}

static bool scan_value(scanner_t *sc, const cJSON *item, unsigned depth, size_t key_off)
{
	skip_ws(sc);
	if (!record(sc, item, sc->off, key_off))
		return false;
	char c = sc->text[sc->off];
	if (c == '{' || c == '[')
		return scan_container(sc, item, depth);
	if (c == '"')
		return scan_string(sc);
	if (c == '-' || (c >= '0' && c <= '9'))
		return scan_number(sc);
	return scan_literal(sc);
}

static bool scan_document(scanner_t *sc, const cJSON *root)
{
	if (strncmp(sc->text, "\xEF\xBB\xBF", 3) == 0) /* UTF-8 BOM, skipped by cJSON too */
		sc->off = 3;
	if (!scan_value(sc, root, 0, NO_KEY))
		return false;
	skip_ws(sc);
	if (sc->text[sc->off] != '\0')
		return fail_unexpected(sc, sc->off, "the end of the document");
	return true;
}

static int cmp_entry(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const pos_entry_t *)a)->item;
	uintptr_t y = (uintptr_t)((const pos_entry_t *)b)->item;
	return (x > y) - (x < y);
}

static void format_error(scanner_t *sc, size_t off, const char *msg, char *err, size_t errlen)
{
	uint32_t line, col;
	locate(sc, off, &line, &col);
	snprintf(err, errlen, "%u:%u: %s", line, col, msg);
}

int json_pos_parse(const char *text, cJSON **root, json_pos_t **map, char *err, size_t errlen)
{
	int rc = -EINVAL;
	const char *end = NULL;
	scanner_t sc = {.text = text, .loc_line = 1, .loc_col = 1};
	json_pos_t *m = NULL;
	*root = NULL;
	*map = NULL;

	cJSON *tree = cJSON_ParseWithOpts(text, &end, 1);
	if (tree == NULL) {
		if (scan_document(&sc, NULL) || end == NULL)
			format_error(&sc, end != NULL ? (size_t)(end - text) : 0, "invalid JSON",
				     err, errlen);
		else
			format_error(&sc, sc.err_off, sc.err, err, errlen);
		goto cleanup;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto cleanup;
	}
	sc.map = m;
	if (!scan_document(&sc, tree)) {
		rc = sc.nomem ? -ENOMEM : -EINVAL;
		format_error(&sc, sc.err_off, sc.err, err, errlen);
		goto cleanup;
	}
	qsort(m->v, m->n, sizeof(*m->v), cmp_entry);
	*root = tree;
	*map = m;
	tree = NULL;
	m = NULL;
	rc = 0;
cleanup:
	cJSON_Delete(tree);
	json_pos_free(m);
	return rc;
}

static const pos_entry_t *find(const json_pos_t *map, const cJSON *item)
{
	if (map == NULL || item == NULL || map->n == 0)
		return NULL;
	pos_entry_t key = {.item = item};
	return bsearch(&key, map->v, map->n, sizeof(*map->v), cmp_entry);
}

int json_pos_of(const json_pos_t *map, const cJSON *item, uint32_t *line, uint32_t *col)
{
	const pos_entry_t *e = find(map, item);
	*line = e != NULL ? e->line : 0;
	*col = e != NULL ? e->col : 0;
	return e != NULL ? 0 : -ENOENT;
}

int json_pos_key_of(const json_pos_t *map, const cJSON *item, uint32_t *line, uint32_t *col)
{
	const pos_entry_t *e = find(map, item);
	bool has_key = e != NULL && e->key_line != 0;
	*line = has_key ? e->key_line : 0;
	*col = has_key ? e->key_col : 0;
	return has_key ? 0 : -ENOENT;
}

void json_pos_free(json_pos_t *map)
{
	if (map == NULL)
		return;
	free(map->v);
	free(map);
}
