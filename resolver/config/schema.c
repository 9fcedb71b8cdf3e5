/*
 * The schema of SPEC 2 as tables: one row per key with its JSON kind,
 * bounds, default and target (an offset into the struct being filled, or a
 * setter for values that need parsing). schema_object walks one JSON object
 * against one table: it matches every member to a row first (unknown keys,
 * with a did-you-mean, and duplicate keys are errors: cJSON keeps both
 * copies of a duplicate and would silently use the first), then applies the
 * rows in table order. Table order, not file order, is what lets the
 * "upstreams" rows read server.listen (resolv.conf expansion skips our own
 * addresses) wherever the two appear in the file.
 *
 * Defaults live in the rows too, as numbers or as the text a setter parses
 * ("127.0.0.1:53", "fastest"), so a default goes through the same code as
 * a value written in the file.
 *
 * Rejected: a generic "load then validate" pass over a filled struct; errors
 * would lose the JSON item and with it FILE:LINE:COL.
 *
 * The file is long because every key lives here with its bounds, default
 * and parser; the walker proper is the first third. Should it grow further
 * (the m365 filters), the walker moves to its own file.
 */
#include "config/schema.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "upstream/resolvconf.h"
#include "util/sockaddr.h"

typedef enum { SK_UINT, SK_BOOL, SK_STRING, SK_STRINGS, SK_OBJECT, SK_ARRAY } schema_kind_t;

enum {
	SF_REQUIRED = 1 << 0,
	SF_NONEMPTY = 1 << 1, /* strings and arrays */
	SF_CAPTURE = 1 << 2,  /* store the cJSON item itself; resolved by config.c */
};

typedef struct schema_row schema_row_t;

/* Converts item (NULL when the key is absent: apply row->def_text) into
 * target. The walker has already checked item's JSON kind. */
typedef int (*schema_setter_t)(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
			       const cJSON *item, const char *path);

struct schema_row {
	const char *name;
	schema_kind_t kind;
	unsigned flags;
	uint32_t min, max, def; /* SK_UINT bounds and default; SK_BOOL default */
	const char *def_text;	/* SK_STRING default, or the text a setter parses */
	size_t offset;		/* of the field in the target struct */
	schema_setter_t set;
	const schema_row_t *sub; /* table of a nested section */
};

/* One row per key; the tables below read as the schema. */
/* clang-format off */
#define ROW_UINT(key, type, fld, lo, hi, dflt) \
	{ .name = (key), .kind = SK_UINT, .min = (lo), .max = (hi), .def = (dflt), \
	  .offset = offsetof(type, fld) }
#define ROW_BOOL(key, type, fld, dflt) \
	{ .name = (key), .kind = SK_BOOL, .def = (dflt), .offset = offsetof(type, fld) }
#define ROW_STRING(key, flg, type, fld, dflt) \
	{ .name = (key), .kind = SK_STRING, .flags = (flg), .def_text = (dflt), \
	  .offset = offsetof(type, fld) }
/* Parsed by a setter, which writes at off and reads its default from dflt. */
#define ROW_SET(key, knd, flg, off, setter, dflt) \
	{ .name = (key), .kind = (knd), .flags = (flg), .offset = (off), .set = (setter), \
	  .def_text = (dflt) }
/* Kept as the cJSON item for config.c to resolve. */
#define ROW_CAPTURE(key, knd, flg, type, fld) \
	{ .name = (key), .kind = (knd), .flags = (flg) | SF_CAPTURE, .offset = offsetof(type, fld) }
/* A nested object whose rows fill ctx->cfg at off. */
#define ROW_SECTION(key, rows, off, setter) \
	{ .name = (key), .kind = SK_OBJECT, .sub = (rows), .offset = (off), .set = (setter) }
#define ROW_END { 0 }
/* clang-format on */

#define SCHEMA_ROWS_MAX 16
#define ROWS_FIT(t)	_Static_assert(sizeof(t) / sizeof((t)[0]) <= SCHEMA_ROWS_MAX + 1, #t)

_Static_assert(sizeof(unsigned) == sizeof(uint32_t), "server.threads is stored as a uint32_t");

static int schema_object(const schema_ctx_t *ctx, const cJSON *obj, const char *path,
			 const schema_row_t *rows, void *target);

/* --- messages and small helpers ------------------------------------------ */

int schema_error(const schema_ctx_t *ctx, const cJSON *at, bool at_key, const char *path,
		 const char *fmt, ...)
{
	char msg[ER_CONFIG_ERR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	uint32_t line = 0, col = 0;
	if (at != NULL && (!at_key || json_pos_key_of(ctx->pos, at, &line, &col) != 0))
		json_pos_of(ctx->pos, at, &line, &col);
	char where[32] = "";
	if (line != 0)
		snprintf(where, sizeof(where), ":%u:%u", line, col);
	snprintf(ctx->err, ctx->errlen, "%s%s: %s%s%s", ctx->file, where, path,
		 path[0] != '\0' ? ": " : "", msg);
	return -EINVAL;
}

static int nomem(const schema_ctx_t *ctx)
{
	snprintf(ctx->err, ctx->errlen, "%s: out of memory", ctx->file);
	return -ENOMEM;
}

static void *field(void *target, const schema_row_t *row)
{
	return (char *)target + row->offset;
}

void schema_path_printf(char out[ER_SCHEMA_PATH_MAX], const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, ER_SCHEMA_PATH_MAX, fmt, ap);
	va_end(ap);
	if (n >= ER_SCHEMA_PATH_MAX) /* a path is for people: show that it was cut */
		memcpy(out + ER_SCHEMA_PATH_MAX - 4, "...", 4);
}

void schema_path_key(char out[ER_SCHEMA_PATH_MAX], const char *path, const char *key)
{
	schema_path_printf(out, "%s%s%s", path, path[0] != '\0' ? "." : "", key);
}

const cJSON *schema_strings_next(const cJSON *value, const cJSON *prev)
{
	if (cJSON_IsString(value))
		return prev == NULL ? value : NULL;
	return prev == NULL ? value->child : prev->next;
}

void schema_path_index(char out[ER_SCHEMA_PATH_MAX], const char *path, const cJSON *value, size_t i)
{
	if (cJSON_IsArray(value))
		schema_path_printf(out, "%s[%zu]", path, i);
	else
		schema_path_printf(out, "%s", path);
}

char *schema_resolve_path(const schema_ctx_t *ctx, const char *path)
{
	char *out = NULL;
	if (path[0] == '/' || ctx->dir == NULL)
		return strdup(path);
	if (asprintf(&out, "%s/%s", ctx->dir, path) < 0)
		return NULL;
	return out;
}

size_t schema_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[65];
	if (la > 64 || lb > 64) /* keys are short; long input matches nothing */
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* --- the generic walker -------------------------------------------------- */

static int unknown_key(const schema_ctx_t *ctx, const cJSON *member, const char *path,
		       const schema_row_t *rows)
{
	const char *best = NULL;
	size_t best_d = 3; /* suggest at edit distance <= 2 only */
	char known[ER_CONFIG_ERR_MAX / 2] = "";
	for (const schema_row_t *r = rows; r->name != NULL; r++) {
		size_t d = schema_edit_distance(member->string, r->name);
		if (d < best_d) {
			best_d = d;
			best = r->name;
		}
		size_t used = strlen(known);
		snprintf(known + used, sizeof(known) - used, "%s%s", used ? ", " : "", r->name);
	}
	if (best != NULL)
		return schema_error(ctx, member, true, path,
				    "unknown key \"%s\" (did you mean \"%s\"?)", member->string,
				    best);
	return schema_error(ctx, member, true, path, "unknown key \"%s\" (known: %s)",
			    member->string, known);
}

static int duplicate_key(const schema_ctx_t *ctx, const cJSON *member, const cJSON *first,
			 const char *path)
{
	uint32_t line, col;
	if (json_pos_key_of(ctx->pos, first, &line, &col) != 0)
		return schema_error(ctx, member, true, path, "duplicate key \"%s\"",
				    member->string);
	return schema_error(ctx, member, true, path, "duplicate key \"%s\" (first at line %u)",
			    member->string, line);
}

/* Maps each member of obj to its row in found[]. */
static int match_members(const schema_ctx_t *ctx, const cJSON *obj, const char *path,
			 const schema_row_t *rows, const cJSON **found)
{
	for (const cJSON *m = obj != NULL ? obj->child : NULL; m != NULL; m = m->next) {
		size_t i = 0;
		while (rows[i].name != NULL && strcmp(rows[i].name, m->string) != 0)
			i++;
		if (rows[i].name == NULL)
			return unknown_key(ctx, m, path, rows);
		if (found[i] != NULL)
			return duplicate_key(ctx, m, found[i], path);
		found[i] = m;
	}
	return 0;
}

static int check_strings(const schema_ctx_t *ctx, const schema_row_t *row, const cJSON *item,
			 const char *path)
{
	if (cJSON_IsString(item))
		return 0;
	if (!cJSON_IsArray(item))
		return schema_error(ctx, item, false, path,
				    "expected a string or an array of strings");
	if (item->child == NULL && (row->flags & SF_NONEMPTY))
		return schema_error(ctx, item, false, path, "must not be empty");
	size_t i = 0;
	for (const cJSON *el = item->child; el != NULL; el = el->next, i++) {
		if (!cJSON_IsString(el)) {
			char elpath[ER_SCHEMA_PATH_MAX];
			schema_path_index(elpath, path, item, i);
			return schema_error(ctx, el, false, elpath, "expected a string");
		}
	}
	return 0;
}

static bool is_integer(const cJSON *item)
{
	double d = item->valuedouble;
	return cJSON_IsNumber(item) && d > -9e15 && d < 9e15 && d == (double)(long long)d;
}

static int check_kind(const schema_ctx_t *ctx, const schema_row_t *row, const cJSON *item,
		      const char *path)
{
	switch (row->kind) {
	case SK_UINT:
		if (!is_integer(item))
			return schema_error(ctx, item, false, path, "expected an integer");
		return 0;
	case SK_BOOL:
		if (!cJSON_IsBool(item))
			return schema_error(ctx, item, false, path, "expected true or false");
		return 0;
	case SK_STRING:
		if (!cJSON_IsString(item))
			return schema_error(ctx, item, false, path, "expected a string");
		if ((row->flags & SF_NONEMPTY) && item->valuestring[0] == '\0')
			return schema_error(ctx, item, false, path, "must not be empty");
		return 0;
	case SK_STRINGS:
		return check_strings(ctx, row, item, path);
	case SK_OBJECT:
		if (!cJSON_IsObject(item))
			return schema_error(ctx, item, false, path, "expected an object");
		return 0;
	case SK_ARRAY:
		if (!cJSON_IsArray(item))
			return schema_error(ctx, item, false, path, "expected an array");
		return 0;
	}
	return -EINVAL;
}

static int store_default(const schema_ctx_t *ctx, const schema_row_t *row, void *target)
{
	if (row->flags & SF_CAPTURE) {
		*(const cJSON **)field(target, row) = NULL;
	} else if (row->kind == SK_UINT) {
		memcpy(field(target, row), &row->def, sizeof(row->def));
	} else if (row->kind == SK_BOOL) {
		*(bool *)field(target, row) = row->def != 0;
	} else if (row->kind == SK_STRING && row->def_text != NULL) {
		char *copy = strdup(row->def_text);
		if (copy == NULL)
			return nomem(ctx);
		*(char **)field(target, row) = copy;
	}
	return 0;
}

static int store_value(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
		       const cJSON *item, const char *path)
{
	if (row->flags & SF_CAPTURE) {
		*(const cJSON **)field(target, row) = item;
	} else if (row->kind == SK_UINT) {
		if (item->valuedouble < row->min || item->valuedouble > row->max)
			return schema_error(ctx, item, false, path, "must be between %u and %u",
					    row->min, row->max);
		uint32_t v = (uint32_t)item->valuedouble;
		memcpy(field(target, row), &v, sizeof(v));
	} else if (row->kind == SK_BOOL) {
		*(bool *)field(target, row) = cJSON_IsTrue(item);
	} else if (row->kind == SK_STRING) {
		char *copy = strdup(item->valuestring);
		if (copy == NULL)
			return nomem(ctx);
		*(char **)field(target, row) = copy;
	}
	return 0;
}

static int apply_row(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
		     const cJSON *obj, const cJSON *item, const char *obj_path)
{
	char path[ER_SCHEMA_PATH_MAX];
	schema_path_key(path, obj_path, row->name);
	if (item == NULL) {
		if (row->flags & SF_REQUIRED)
			return schema_error(ctx, obj, false, obj_path,
					    "missing required key \"%s\"", row->name);
		return row->set != NULL ? row->set(ctx, row, target, NULL, path)
					: store_default(ctx, row, target);
	}
	int rc = check_kind(ctx, row, item, path);
	if (rc != 0)
		return rc;
	return row->set != NULL ? row->set(ctx, row, target, item, path)
				: store_value(ctx, row, target, item, path);
}

/* Walks obj (NULL: the section is absent, every row takes its default). */
static int schema_object(const schema_ctx_t *ctx, const cJSON *obj, const char *path,
			 const schema_row_t *rows, void *target)
{
	const cJSON *found[SCHEMA_ROWS_MAX] = {0};
	int rc = match_members(ctx, obj, path, rows, found);
	for (size_t i = 0; rc == 0 && rows[i].name != NULL; i++)
		rc = apply_row(ctx, &rows[i], target, obj, found[i], path);
	return rc;
}

/* --- setters: server ----------------------------------------------------- */

static int add_listen(const schema_ctx_t *ctx, config_t *c, const char *text, const cJSON *el,
		      const char *path)
{
	struct sockaddr_storage ss;
	if (c->n_listen == ER_LISTEN_MAX)
		return schema_error(ctx, el, false, path, "at most %d listen addresses",
				    ER_LISTEN_MAX);
	if (sockaddr_parse(text, 53, &ss) != 0)
		return schema_error(ctx, el, false, path,
				    "\"%s\" is not an address (expected \"IP\", \"IP:PORT\" or "
				    "\"[IPv6]:PORT\")",
				    text);
	for (size_t i = 0; i < c->n_listen; i++)
		if (sockaddr_equal((const struct sockaddr *)&c->listen[i],
				   (const struct sockaddr *)&ss))
			return schema_error(ctx, el, false, path, "\"%s\" is listed twice", text);
	c->listen[c->n_listen++] = ss;
	return 0;
}

static int set_listen(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
		      const cJSON *item, const char *path)
{
	if (item == NULL)
		return add_listen(ctx, target, row->def_text, NULL, path);
	size_t i = 0;
	int rc = 0;
	for (const cJSON *el = schema_strings_next(item, NULL); rc == 0 && el != NULL;
	     el = schema_strings_next(item, el), i++) {
		char elpath[ER_SCHEMA_PATH_MAX];
		schema_path_index(elpath, path, item, i);
		rc = add_listen(ctx, target, el->valuestring, el, elpath);
	}
	return rc;
}

static int acl_add_text(const schema_ctx_t *ctx, acl_t *acl, const char *text, const cJSON *el,
			const char *path)
{
	netblock_t nb;
	if (netblock_parse(text, &nb) != 0)
		return schema_error(ctx, el, false, path,
				    "\"%s\" is not an address prefix (such as \"10.0.0.0/8\"; "
				    "host bits must be zero)",
				    text);
	return acl_add(acl, &nb) == 0 ? 0 : nomem(ctx);
}

/* An acl_t * field; the default is a space-separated list in def_text. */
static int set_acl(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
		   const cJSON *item, const char *path)
{
	acl_t *acl = acl_new();
	if (acl == NULL)
		return nomem(ctx);
	*(acl_t **)field(target, row) = acl; /* the target's owner frees it on failure */
	int rc = 0;
	if (item == NULL) {
		char text[128];
		snprintf(text, sizeof(text), "%s", row->def_text);
		char *save = NULL;
		for (char *tok = strtok_r(text, " ", &save); rc == 0 && tok != NULL;
		     tok = strtok_r(NULL, " ", &save))
			rc = acl_add_text(ctx, acl, tok, NULL, path);
		return rc;
	}
	size_t i = 0;
	for (const cJSON *el = schema_strings_next(item, NULL); rc == 0 && el != NULL;
	     el = schema_strings_next(item, el), i++) {
		char elpath[ER_SCHEMA_PATH_MAX];
		schema_path_index(elpath, path, item, i);
		rc = acl_add_text(ctx, acl, el->valuestring, el, elpath);
	}
	return rc;
}

static int set_identity(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
			const cJSON *item, const char *path)
{
	char host[256] = "";
	if (item != NULL)
		return store_value(ctx, row, target, item, path);
	if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "%s", "erdns");
	char *copy = strdup(host);
	if (copy == NULL)
		return nomem(ctx);
	*(char **)field(target, row) = copy;
	return 0;
}

/* --- setters: upstream groups -------------------------------------------- */

static bool is_own_listener(const config_t *c, const struct sockaddr_storage *ss)
{
	for (size_t i = 0; i < c->n_listen; i++)
		if (sockaddr_equal((const struct sockaddr *)&c->listen[i],
				   (const struct sockaddr *)ss))
			return true;
	return false;
}

static int add_server(const schema_ctx_t *ctx, config_group_t *g, const char *text, const cJSON *el,
		      const char *path)
{
	struct sockaddr_storage ss;
	if (sockaddr_parse(text, 53, &ss) != 0)
		return schema_error(ctx, el, false, path,
				    "\"%s\" is not an address (expected \"IP\", \"IP:PORT\", "
				    "\"[IPv6]:PORT\", \"resolv.conf\" or \"resolv.conf:PATH\")",
				    text);
	if (is_own_listener(ctx->cfg, &ss))
		return schema_error(ctx, el, false, path,
				    "\"%s\" is one of this server's listen addresses; "
				    "forwarding to it would loop",
				    text);
	if (g->n_servers == ER_GROUP_MAX_SERVERS)
		return schema_error(ctx, el, false, path, "more than %d servers in the group",
				    ER_GROUP_MAX_SERVERS);
	g->servers[g->n_servers++] = ss;
	return 0;
}

static int add_resolvconf(const schema_ctx_t *ctx, config_group_t *g, const char *file,
			  const cJSON *el, const char *path)
{
	struct sockaddr_storage found[ER_GROUP_MAX_SERVERS + 1];
	size_t n = 0;
	char msg[ER_CONFIG_ERR_MAX / 2];
	const config_t *c = ctx->cfg;
	if (resolvconf_read(file, c->listen, c->n_listen, found, ER_GROUP_MAX_SERVERS + 1, &n, msg,
			    sizeof(msg)) != 0)
		return schema_error(ctx, el, false, path, "%s", msg);
	if (g->n_servers + n > ER_GROUP_MAX_SERVERS)
		return schema_error(ctx, el, false, path,
				    "more than %d servers in the group after reading %s",
				    ER_GROUP_MAX_SERVERS, file);
	memcpy(&g->servers[g->n_servers], found, n * sizeof(found[0]));
	g->n_servers += n;
	return 0;
}

static int add_server_text(const schema_ctx_t *ctx, config_group_t *g, const cJSON *el,
			   const char *path)
{
	static const char prefix[] = "resolv.conf:";
	const char *text = el->valuestring;
	if (strcmp(text, "resolv.conf") == 0)
		return add_resolvconf(ctx, g, "/etc/resolv.conf", el, path);
	if (strncmp(text, prefix, sizeof(prefix) - 1) != 0)
		return add_server(ctx, g, text, el, path);
	if (text[sizeof(prefix) - 1] == '\0')
		return schema_error(ctx, el, false, path, "\"resolv.conf:\" needs a file name");
	char *file = schema_resolve_path(ctx, text + sizeof(prefix) - 1);
	if (file == NULL)
		return nomem(ctx);
	int rc = add_resolvconf(ctx, g, file, el, path);
	free(file);
	return rc;
}

static int set_servers(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
		       const cJSON *item, const char *path)
{
	(void)row;
	size_t i = 0;
	int rc = 0;
	for (const cJSON *el = schema_strings_next(item, NULL); rc == 0 && el != NULL;
	     el = schema_strings_next(item, el), i++) {
		char elpath[ER_SCHEMA_PATH_MAX];
		schema_path_index(elpath, path, item, i);
		rc = add_server_text(ctx, target, el, elpath);
	}
	return rc;
}

static const char *text_or_default(const schema_row_t *row, const cJSON *item)
{
	return item != NULL ? item->valuestring : row->def_text;
}

static int set_select(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
		      const cJSON *item, const char *path)
{
	if (select_policy_parse(text_or_default(row, item), field(target, row)) == 0)
		return 0;
	return schema_error(ctx, item, false, path, "must be one of fastest, ordered, round-robin");
}

static int set_tcp(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
		   const cJSON *item, const char *path)
{
	const char *text = text_or_default(row, item);
	tcp_mode_t *mode = field(target, row);
	if (strcmp(text, "fallback") == 0)
		*mode = TCP_MODE_FALLBACK;
	else if (strcmp(text, "always") == 0)
		*mode = TCP_MODE_ALWAYS;
	else
		return schema_error(ctx, item, false, path, "must be one of fallback, always");
	return 0;
}

static int set_ecs(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
		   const cJSON *item, const char *path)
{
	const char *text = text_or_default(row, item);
	config_group_t *g = target;
	(void)row;
	if (strcmp(text, "strip") == 0)
		g->ecs = ECS_STRIP;
	else if (strcmp(text, "pass") == 0)
		g->ecs = ECS_PASS;
	else if (netblock_parse(text, &g->ecs_prefix) == 0)
		g->ecs = ECS_PREFIX;
	else
		return schema_error(ctx, item, false, path,
				    "expected \"strip\", \"pass\" or an address prefix such as "
				    "\"203.0.113.0/24\"");
	return 0;
}

static const schema_row_t group_rows[] = {
    ROW_SET("servers", SK_STRINGS, SF_REQUIRED | SF_NONEMPTY, 0, set_servers, NULL),
    ROW_SET("select", SK_STRING, 0, offsetof(config_group_t, select), set_select, "fastest"),
    ROW_UINT("timeout_ms", config_group_t, timeout_ms, 50, 30000, 1500),
    ROW_UINT("max_fails", config_group_t, max_fails, 1, 100, 3),
    ROW_UINT("probe_interval_ms", config_group_t, probe_interval_ms, 100, ER_PROBE_MAX_MS, 1000),
    ROW_SET("tcp", SK_STRING, 0, offsetof(config_group_t, tcp), set_tcp, "fallback"),
    ROW_SET("ecs", SK_STRING, 0, 0, set_ecs, "strip"),
    ROW_END,
};
ROWS_FIT(group_rows);

static bool is_group_name(const char *name)
{
	size_t len = strlen(name);
	return len >= 1 && len <= ER_GROUP_NAME_MAX &&
	       strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") ==
		   len;
}

static int add_group(const schema_ctx_t *ctx, const cJSON *upstreams, const cJSON *m,
		     const char *path)
{
	config_t *c = ctx->cfg;
	if (!is_group_name(m->string))
		return schema_error(ctx, m, true, path,
				    "group name \"%s\" must be 1 to %d of A-Z a-z 0-9 _ -",
				    m->string, ER_GROUP_NAME_MAX);
	for (const cJSON *prev = upstreams->child; prev != m; prev = prev->next)
		if (strcmp(prev->string, m->string) == 0)
			return duplicate_key(ctx, m, prev, path);
	config_group_t *g = &c->groups[c->n_groups++];
	g->name = strdup(m->string);
	if (g->name == NULL)
		return nomem(ctx);
	char gpath[ER_SCHEMA_PATH_MAX];
	schema_path_key(gpath, path, m->string);
	if (!cJSON_IsObject(m))
		return schema_error(ctx, m, false, gpath, "expected an object");
	return schema_object(ctx, m, gpath, group_rows, g);
}

static int set_upstreams(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
			 const cJSON *item, const char *path)
{
	(void)row;
	(void)target;
	if (item == NULL)
		return 0;
	config_t *c = ctx->cfg;
	c->groups = calloc((size_t)cJSON_GetArraySize(item) + 1, sizeof(*c->groups));
	if (c->groups == NULL)
		return nomem(ctx);
	int rc = 0;
	for (const cJSON *m = item->child; rc == 0 && m != NULL; m = m->next)
		rc = add_group(ctx, item, m, path);
	return rc;
}

/* --- setters: routes, views, zones --------------------------------------- */

/* service_areas and categories: names to filter bits. */
static int set_m365_bits(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
			 const cJSON *item, const char *path)
{
	bool is_area = strcmp(row->name, "service_areas") == 0;
	unsigned *bits = field(target, row);
	size_t i = 0;
	*bits = 0;
	for (const cJSON *el = item != NULL ? schema_strings_next(item, NULL) : NULL; el != NULL;
	     el = schema_strings_next(item, el), i++) {
		unsigned bit;
		int rc = is_area ? m365_area_parse(el->valuestring, &bit)
				 : m365_category_parse(el->valuestring, &bit);
		char elpath[ER_SCHEMA_PATH_MAX];
		schema_path_index(elpath, path, item, i);
		if (rc != 0)
			return schema_error(ctx, el, false, elpath, "unknown %s \"%s\" (known: %s)",
					    is_area ? "service area" : "category", el->valuestring,
					    is_area ? m365_area_names() : m365_category_names());
		*bits |= bit;
	}
	return 0;
}

static int set_m365_file(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
			 const cJSON *item, const char *path)
{
	spec_m365_t *m = target;
	(void)row;
	(void)path;
	m->file_item = item;
	m->file = schema_resolve_path(ctx, item->valuestring);
	return m->file != NULL ? 0 : nomem(ctx);
}

static const schema_row_t m365_rows[] = {
    ROW_SET("file", SK_STRING, SF_REQUIRED | SF_NONEMPTY, 0, set_m365_file, NULL),
    ROW_BOOL("expressroute", spec_m365_t, filter.is_expressroute, 1),
    ROW_SET("service_areas", SK_STRINGS, SF_NONEMPTY, offsetof(spec_m365_t, filter.areas),
	    set_m365_bits, NULL),
    ROW_SET("categories", SK_STRINGS, SF_NONEMPTY, offsetof(spec_m365_t, filter.categories),
	    set_m365_bits, NULL),
    ROW_BOOL("required_only", spec_m365_t, filter.is_required_only, 0),
    ROW_END,
};
ROWS_FIT(m365_rows);

static int set_m365(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
		    const cJSON *item, const char *path)
{
	spec_route_t *r = target;
	(void)row;
	if (item == NULL)
		return 0;
	r->m365 = item;
	return schema_object(ctx, item, path, m365_rows, &r->m365s);
}

/* SPEC 2.2 ExpressRoute audit: what an answer outside the prefixes does. */
static int set_audit(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
		     const cJSON *item, const char *path)
{
	spec_route_t *r = target;
	const char *text = text_or_default(row, item);
	r->audit_item = item;
	if (strcmp(text, "observe") == 0)
		r->audit = ER_AUDIT_OBSERVE;
	else if (strcmp(text, "fallback") == 0)
		r->audit = ER_AUDIT_FALLBACK;
	else
		return schema_error(ctx, item, false, path, "must be one of observe, fallback");
	return 0;
}

static const schema_row_t route_rows[] = {
    ROW_CAPTURE("domains", SK_STRINGS, SF_NONEMPTY, spec_route_t, domains),
    ROW_SET("m365", SK_OBJECT, 0, 0, set_m365, NULL),
    ROW_CAPTURE("via", SK_STRINGS, SF_REQUIRED | SF_NONEMPTY, spec_route_t, via),
    ROW_SET("audit", SK_STRING, 0, 0, set_audit, "observe"),
    ROW_END,
};
ROWS_FIT(route_rows);

static int add_route(const schema_ctx_t *ctx, spec_routes_t *rs, const cJSON *el, const char *path)
{
	spec_route_t *r = &rs->v[rs->n];
	schema_path_printf(r->path, "%s[%zu]", path, rs->n);
	rs->n++;
	r->item = el;
	if (!cJSON_IsObject(el))
		return schema_error(ctx, el, false, r->path, "expected an object");
	int rc = schema_object(ctx, el, r->path, route_rows, r);
	if (rc != 0)
		return rc;
	if (r->domains != NULL && r->m365 != NULL)
		return schema_error(ctx, el, false, r->path,
				    "has both \"domains\" and \"m365\"; use one per route");
	if (r->domains == NULL && r->m365 == NULL)
		return schema_error(ctx, el, false, r->path, "needs \"domains\" or \"m365\"");
	if (r->audit_item != NULL && r->m365 == NULL) {
		char apath[ER_SCHEMA_PATH_MAX];
		schema_path_key(apath, r->path, "audit");
		return schema_error(ctx, r->audit_item, true, apath,
				    "applies to \"m365\" routes only (it checks answers against "
				    "the list's ExpressRoute prefixes)");
	}
	return 0;
}

/* A spec_routes_t field: an array of route objects. */
static int set_routes(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
		      const cJSON *item, const char *path)
{
	spec_routes_t *rs = field(target, row);
	if (item == NULL)
		return 0;
	rs->v = calloc((size_t)cJSON_GetArraySize(item) + 1, sizeof(*rs->v));
	if (rs->v == NULL)
		return nomem(ctx);
	int rc = 0;
	for (const cJSON *el = item->child; rc == 0 && el != NULL; el = el->next)
		rc = add_route(ctx, rs, el, path);
	return rc;
}

static const schema_row_t view_rows[] = {
    ROW_STRING("name", SF_REQUIRED | SF_NONEMPTY, spec_view_t, name, NULL),
    ROW_SET("clients", SK_STRINGS, SF_REQUIRED | SF_NONEMPTY, offsetof(spec_view_t, clients),
	    set_acl, NULL),
    ROW_SET("routes", SK_ARRAY, 0, offsetof(spec_view_t, routes), set_routes, NULL),
    ROW_CAPTURE("default", SK_STRINGS, SF_NONEMPTY, spec_view_t, dflt),
    ROW_END,
};
ROWS_FIT(view_rows);

static int add_view(const schema_ctx_t *ctx, config_spec_t *spec, const cJSON *el, const char *path)
{
	spec_view_t *v = &spec->views[spec->n_views];
	schema_path_printf(v->path, "%s[%zu]", path, spec->n_views);
	spec->n_views++;
	v->item = el;
	if (!cJSON_IsObject(el))
		return schema_error(ctx, el, false, v->path, "expected an object");
	int rc = schema_object(ctx, el, v->path, view_rows, v);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i + 1 < spec->n_views; i++) {
		if (strcmp(spec->views[i].name, v->name) != 0)
			continue;
		char npath[ER_SCHEMA_PATH_MAX];
		schema_path_key(npath, v->path, "name");
		return schema_error(ctx, cJSON_GetObjectItemCaseSensitive(el, "name"), false, npath,
				    "duplicate view name \"%s\" (first in %s)", v->name,
				    spec->views[i].path);
	}
	return 0;
}

static int set_views(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
		     const cJSON *item, const char *path)
{
	config_spec_t *spec = target;
	(void)row;
	if (item == NULL)
		return 0;
	spec->views = calloc((size_t)cJSON_GetArraySize(item) + 1, sizeof(*spec->views));
	if (spec->views == NULL)
		return nomem(ctx);
	int rc = 0;
	for (const cJSON *el = item->child; rc == 0 && el != NULL; el = el->next)
		rc = add_view(ctx, spec, el, path);
	return rc;
}

static int set_zone_file(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
			 const cJSON *item, const char *path)
{
	spec_zone_t *z = target;
	(void)row;
	(void)path;
	z->item = item;
	z->file = schema_resolve_path(ctx, item->valuestring);
	return z->file != NULL ? 0 : nomem(ctx);
}

static const schema_row_t zone_rows[] = {
    ROW_SET("file", SK_STRING, SF_REQUIRED | SF_NONEMPTY, 0, set_zone_file, NULL),
    ROW_END,
};
ROWS_FIT(zone_rows);

static int set_zones(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
		     const cJSON *item, const char *path)
{
	config_spec_t *spec = target;
	(void)row;
	if (item == NULL)
		return 0;
	spec->zones = calloc((size_t)cJSON_GetArraySize(item) + 1, sizeof(*spec->zones));
	if (spec->zones == NULL)
		return nomem(ctx);
	int rc = 0;
	for (const cJSON *el = item->child; rc == 0 && el != NULL; el = el->next) {
		char zpath[ER_SCHEMA_PATH_MAX];
		schema_path_printf(zpath, "%s[%zu]", path, spec->n_zones);
		spec_zone_t *z = &spec->zones[spec->n_zones++];
		if (!cJSON_IsObject(el))
			return schema_error(ctx, el, false, zpath, "expected an object");
		rc = schema_object(ctx, el, zpath, zone_rows, z);
	}
	return rc;
}

/* --- setters: cache, metrics, log, and the sections themselves ------------ */

static int set_metrics_listen(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
			      const cJSON *item, const char *path)
{
	struct sockaddr_storage ss;
	if (item == NULL)
		return 0;
	if (sockaddr_parse(item->valuestring, 0, &ss) != 0 ||
	    sockaddr_port((const struct sockaddr *)&ss) == 0)
		return schema_error(ctx, item, false, path,
				    "\"%s\" is not an address with a port (such as "
				    "\"127.0.0.1:9253\")",
				    item->valuestring);
	return store_value(ctx, row, target, item, path);
}

static int set_log_level(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
			 const cJSON *item, const char *path)
{
	if (log_level_parse(text_or_default(row, item), field(target, row)) == 0)
		return 0;
	return schema_error(ctx, item, false, path, "must be one of error, warn, info, debug");
}

/* A section whose rows fill ctx->cfg at row->offset. */
static int set_section(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
		       const cJSON *item, const char *path)
{
	(void)target;
	return schema_object(ctx, item, path, row->sub, (char *)ctx->cfg + row->offset);
}

static int set_cache(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
		     const cJSON *item, const char *path)
{
	int rc = set_section(ctx, row, target, item, path);
	const config_cache_t *cc = &ctx->cfg->cache;
	if (rc != 0 || cc->min_ttl_s <= cc->max_ttl_s)
		return rc;
	const cJSON *min = cJSON_GetObjectItemCaseSensitive(item, "min_ttl_s");
	char mpath[ER_SCHEMA_PATH_MAX];
	schema_path_key(mpath, path, "min_ttl_s");
	return schema_error(ctx, min, false, mpath, "must not be above max_ttl_s (%u)",
			    cc->max_ttl_s);
}

/* The section, then what its keys mean together: client_burst defaults
 * to client_qps, means nothing without it, and is at least a
 * millisecond's worth of it: the workers' clock ticks in ms, so at most
 * client_burst queries pass in one tick, and a smaller burst would cap
 * the rate below client_qps without saying so. */
static int set_server_section(const schema_ctx_t *ctx, const schema_row_t *row, void *target,
			      const cJSON *item, const char *path)
{
	int rc = set_section(ctx, row, target, item, path);
	config_t *c = ctx->cfg;
	if (rc != 0)
		return rc;
	const cJSON *burst = cJSON_GetObjectItemCaseSensitive(item, "client_burst");
	if (burst == NULL) {
		c->client_burst = c->client_qps;
		return 0;
	}
	char bpath[ER_SCHEMA_PATH_MAX];
	schema_path_key(bpath, path, "client_burst");
	if (c->client_qps == 0)
		return schema_error(ctx, burst, true, bpath,
				    "has no effect without client_qps; set client_qps (queries a "
				    "second per client) or remove client_burst");
	uint32_t least = (c->client_qps + 999) / 1000;
	if (c->client_burst < least)
		return schema_error(ctx, burst, false, bpath,
				    "must be at least client_qps / 1000 (%u): the clock ticks in "
				    "milliseconds and at most client_burst queries pass in one",
				    least);
	return 0;
}

static const schema_row_t server_rows[] = {
    ROW_SET("listen", SK_STRINGS, SF_NONEMPTY, 0, set_listen, "127.0.0.1:53"),
    ROW_UINT("threads", config_t, threads, 0, 256, 0),
    ROW_SET("allow", SK_STRINGS, SF_NONEMPTY, offsetof(config_t, allow), set_acl,
	    "127.0.0.0/8 ::1/128"),
    ROW_STRING("user", SF_NONEMPTY, config_t, user, NULL),
    ROW_SET("identity", SK_STRING, 0, offsetof(config_t, identity), set_identity, NULL),
    ROW_UINT("query_timeout_ms", config_t, query_timeout_ms, 100, 60000, 3000),
    ROW_UINT("client_qps", config_t, client_qps, 0, ER_CLIENT_QPS_MAX, 0),
    /* default: client_qps (set_server_section) */
    ROW_UINT("client_burst", config_t, client_burst, 1, ER_CLIENT_QPS_MAX, 0),
    ROW_END,
};
ROWS_FIT(server_rows);

static const schema_row_t cache_rows[] = {
    ROW_UINT("max_mb", config_cache_t, max_mb, 1, 65536, 64),
    ROW_UINT("min_ttl_s", config_cache_t, min_ttl_s, 0, 86400, 0),
    ROW_UINT("max_ttl_s", config_cache_t, max_ttl_s, 1, 604800, 86400),
    ROW_UINT("max_negative_ttl_s", config_cache_t, max_negative_ttl_s, 0, 86400, 3600),
    ROW_UINT("serve_stale_s", config_cache_t, serve_stale_s, 0, 604800, 86400),
    ROW_UINT("fallback_ttl_s", config_cache_t, fallback_ttl_s, 0, 86400, 30),
    ROW_BOOL("prefetch", config_cache_t, prefetch, 1),
    ROW_END,
};
ROWS_FIT(cache_rows);

static const schema_row_t control_rows[] = {
    ROW_STRING("socket", SF_NONEMPTY, config_t, control_socket, "/run/erdns/control.sock"),
    ROW_END,
};

static const schema_row_t metrics_rows[] = {
    ROW_SET("listen", SK_STRING, 0, offsetof(config_t, metrics_listen), set_metrics_listen, NULL),
    ROW_END,
};

static const schema_row_t log_rows[] = {
    ROW_SET("level", SK_STRING, 0, offsetof(config_t, log_level), set_log_level, "info"),
    ROW_BOOL("queries", config_t, log_queries, 0),
    ROW_STRING("query_file", SF_NONEMPTY, config_t, query_file, NULL),
    ROW_END,
};

/* Order matters: server before upstreams (resolv.conf skips our listeners). */
static const schema_row_t top_rows[] = {
    ROW_SECTION("server", server_rows, 0, set_server_section),
    ROW_SET("upstreams", SK_OBJECT, 0, 0, set_upstreams, NULL),
    ROW_SET("routes", SK_ARRAY, 0, offsetof(config_spec_t, routes), set_routes, NULL),
    ROW_SET("views", SK_ARRAY, 0, 0, set_views, NULL),
    ROW_CAPTURE("default", SK_STRINGS, SF_NONEMPTY, config_spec_t, dflt),
    ROW_SET("zones", SK_ARRAY, 0, 0, set_zones, NULL),
    ROW_SECTION("cache", cache_rows, offsetof(config_t, cache), set_cache),
    ROW_SECTION("control", control_rows, 0, set_section),
    ROW_SECTION("metrics", metrics_rows, 0, set_section),
    ROW_SECTION("log", log_rows, 0, set_section),
    ROW_END,
};
ROWS_FIT(top_rows);

int schema_walk(const schema_ctx_t *ctx, const cJSON *root, config_spec_t *spec)
{
	spec->root = root;
	if (!cJSON_IsObject(root))
		return schema_error(ctx, root, false, "", "the top level must be an object");
	return schema_object(ctx, root, "", top_rows, spec);
}

static void routes_deinit(spec_routes_t *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		free(rs->v[i].m365s.file);
	free(rs->v);
	rs->v = NULL;
	rs->n = 0;
}

void spec_deinit(config_spec_t *spec)
{
	routes_deinit(&spec->routes);
	for (size_t i = 0; i < spec->n_views; i++) {
		free(spec->views[i].name);
		if (spec->views[i].clients != NULL)
			acl_free(spec->views[i].clients);
		routes_deinit(&spec->views[i].routes);
	}
	free(spec->views);
	for (size_t i = 0; i < spec->n_zones; i++)
		free(spec->zones[i].file);
	free(spec->zones);
	*spec = (config_spec_t){0};
}
