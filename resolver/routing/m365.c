/*
 * Microsoft 365 endpoint lists: parsing and filtering (this file) and the
 * import into a ruleset (m365_import.c).
 *
 * The file is parsed with cJSON through json_pos so that every complaint
 * carries NAME:LINE:COL, then copied into plain structs: the cJSON tree is
 * dropped at once, because a list lives as long as a config snapshot and
 * the tree with its positions is ten times the size of what we keep.
 * Validation is strict on the fields Microsoft documents as always present
 * (id, serviceArea, category, expressRoute, required) and on the types of
 * urls and ips, because a list that does not look right (a 429 error body, a
 * truncated download) must fail `erdns check` rather than silently route
 * nothing; fields we do not use are ignored, as the web service asks.
 */
#include "routing/m365.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config/json_pos.h"

struct m365_list {
	char *name;
	size_t n_sets;
	m365_set_t *sets;
};

/* Everything one parse needs to report. */
struct parse_ctx {
	const char *name;
	const json_pos_t *pos;
	char *err;
	size_t errlen;
};

struct name_bit {
	const char *name;
	unsigned bit;
};

static const struct name_bit areas[] = {
    {"Exchange", M365_AREA_EXCHANGE},
    {"SharePoint", M365_AREA_SHAREPOINT},
    {"Skype", M365_AREA_SKYPE},
    {"Common", M365_AREA_COMMON},
};

static const struct name_bit categories[] = {
    {"Optimize", M365_CAT_OPTIMIZE},
    {"Allow", M365_CAT_ALLOW},
    {"Default", M365_CAT_DEFAULT},
};

/* ---- names ---- */

int m365_area_parse(const char *name, unsigned *bit)
{
	for (size_t i = 0; i < sizeof(areas) / sizeof(areas[0]); i++) {
		if (strcasecmp(name, areas[i].name) == 0) {
			*bit = areas[i].bit;
			return 0;
		}
	}
	return -EINVAL;
}

int m365_category_parse(const char *name, unsigned *bit)
{
	for (size_t i = 0; i < sizeof(categories) / sizeof(categories[0]); i++) {
		if (strcasecmp(name, categories[i].name) == 0) {
			*bit = categories[i].bit;
			return 0;
		}
	}
	return -EINVAL;
}

const char *m365_area_names(void)
{
	return "Exchange, SharePoint, Skype, Common";
}

const char *m365_category_names(void)
{
	return "Optimize, Allow, Default";
}

bool m365_filter_selects(const m365_filter_t *f, const m365_set_t *set)
{
	unsigned want_areas = f->areas != 0 ? f->areas | M365_AREA_COMMON : ~0u;
	if (f->is_expressroute && !set->is_expressroute)
		return false;
	if (f->is_required_only && !set->is_required)
		return false;
	if ((set->area_bit & want_areas) == 0)
		return false;
	return f->categories == 0 || (set->category_bit & f->categories) != 0;
}

/* ---- URL shapes ---- */

rule_kind_t m365_url_pattern(const char *url, char *out, size_t outlen)
{
	const char *star = strchr(url, '*');
	if (star == NULL) {
		snprintf(out, outlen, "=%s", url);
		return RULE_EXACT;
	}
	snprintf(out, outlen, "%s", url);
	if (strncmp(url, "*.", 2) == 0 && strchr(url + 1, '*') == NULL)
		return RULE_BELOW;
	return RULE_GLOB;
}

void m365_url_probe(const char *url, char *out, size_t outlen)
{
	size_t n = 0;
	if (outlen == 0)
		return;
	for (const char *p = url; *p && n + 1 < outlen; p++) {
		if (*p != '*') {
			out[n++] = *p;
			continue;
		}
		for (const char *q = ER_M365_PROBE_LABEL; *q && n + 1 < outlen; q++)
			out[n++] = *q;
	}
	out[n] = '\0';
}

/* ---- parsing ---- */

static int parse_error(const struct parse_ctx *pc, const cJSON *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int parse_error(const struct parse_ctx *pc, const cJSON *at, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	uint32_t line = 0, col = 0;
	if (at != NULL)
		json_pos_of(pc->pos, at, &line, &col);
	if (line != 0)
		snprintf(pc->err, pc->errlen, "%s:%u:%u: %s", pc->name, line, col, msg);
	else
		snprintf(pc->err, pc->errlen, "%s: %s", pc->name, msg);
	return -EINVAL;
}

/* The member key of obj, type-checked by is(); NULL with an error when it
 * is missing (and required) or of the wrong type. */
static const cJSON *member(const struct parse_ctx *pc, const cJSON *obj, size_t i, const char *key,
			   cJSON_bool (*is)(const cJSON *), const char *type, bool required,
			   int *rc)
{
	if (*rc != 0) /* report the first problem only */
		return NULL;
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (m == NULL && required)
		*rc = parse_error(pc, obj,
				  "endpoint set [%zu]: missing \"%s\"; is this an "
				  "/endpoints/{instance} list?",
				  i, key);
	else if (m != NULL && !is(m))
		*rc = parse_error(pc, m, "endpoint set [%zu]: \"%s\" must be %s", i, key, type);
	return *rc == 0 ? m : NULL;
}

/* A non-empty string array (urls, ips) copied with the place of each string. */
static int parse_strings(const struct parse_ctx *pc, const cJSON *arr, size_t i,
			 const m365_set_t *s, const char *key, m365_url_t **out, size_t *n)
{
	if (arr == NULL)
		return 0;
	*out = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(**out));
	if (*out == NULL)
		return -ENOMEM;
	for (const cJSON *u = arr->child; u != NULL; u = u->next) {
		if (!cJSON_IsString(u) || u->valuestring[0] == '\0')
			return parse_error(pc, u,
					   "endpoint set [%zu] (id %d): %s[%zu]: "
					   "expected a non-empty string",
					   i, (int)s->id, key, *n);
		m365_url_t *item = &(*out)[(*n)++];
		item->text = strdup(u->valuestring);
		if (item->text == NULL)
			return -ENOMEM;
		json_pos_of(pc->pos, u, &item->line, &item->col);
	}
	return 0;
}

static int parse_id(const struct parse_ctx *pc, const cJSON *id, size_t i, m365_set_t *s)
{
	double d = id->valuedouble;
	if (d < 0 || d > INT32_MAX || d != (double)(int32_t)d)
		return parse_error(pc, id,
				   "endpoint set [%zu]: \"id\" must be an integer "
				   "0..%d",
				   i, INT32_MAX);
	s->id = (int32_t)d;
	return 0;
}

static int parse_set(const struct parse_ctx *pc, const cJSON *obj, size_t i, m365_set_t *s)
{
	int rc = 0;
	if (!cJSON_IsObject(obj))
		return parse_error(pc, obj, "endpoint set [%zu]: expected an object", i);
	json_pos_of(pc->pos, obj, &s->line, &s->col);
	const cJSON *id = member(pc, obj, i, "id", cJSON_IsNumber, "a number", true, &rc);
	const cJSON *area =
	    member(pc, obj, i, "serviceArea", cJSON_IsString, "a string", true, &rc);
	const cJSON *cat = member(pc, obj, i, "category", cJSON_IsString, "a string", true, &rc);
	const cJSON *er =
	    member(pc, obj, i, "expressRoute", cJSON_IsBool, "true or false", true, &rc);
	const cJSON *req = member(pc, obj, i, "required", cJSON_IsBool, "true or false", true, &rc);
	const cJSON *urls = member(pc, obj, i, "urls", cJSON_IsArray, "an array", false, &rc);
	const cJSON *ips = member(pc, obj, i, "ips", cJSON_IsArray, "an array", false, &rc);
	if (rc == 0)
		rc = parse_id(pc, id, i, s);
	if (rc != 0)
		return rc;
	s->is_expressroute = cJSON_IsTrue(er);
	s->is_required = cJSON_IsTrue(req);
	s->area = strdup(area->valuestring);
	s->category = strdup(cat->valuestring);
	if (s->area == NULL || s->category == NULL)
		return -ENOMEM;
	if (m365_area_parse(s->area, &s->area_bit) != 0)
		s->area_bit = M365_AREA_OTHER;
	if (m365_category_parse(s->category, &s->category_bit) != 0)
		s->category_bit = M365_CAT_OTHER;
	rc = parse_strings(pc, urls, i, s, "urls", &s->urls, &s->n_urls);
	return rc == 0 ? parse_strings(pc, ips, i, s, "ips", &s->ips, &s->n_ips) : rc;
}

static int check_unique_ids(const struct parse_ctx *pc, const m365_list_t *l, const cJSON *root)
{
	const cJSON *el = root->child;
	for (size_t i = 0; i < l->n_sets; i++, el = el->next) {
		for (size_t j = 0; j < i; j++) {
			if (l->sets[j].id == l->sets[i].id)
				return parse_error(pc, el,
						   "endpoint set [%zu]: id %d already used "
						   "by endpoint set [%zu] (line %u)",
						   i, (int)l->sets[i].id, j, l->sets[j].line);
		}
	}
	return 0;
}

static int parse_root(const struct parse_ctx *pc, const cJSON *root, m365_list_t *l)
{
	if (!cJSON_IsArray(root))
		return parse_error(pc, root,
				   "expected an array of endpoint sets (the "
				   "/endpoints/{instance} format); got %s",
				   cJSON_IsObject(root) ? "an object (an error reply?)"
							: "something else");
	if (root->child == NULL)
		return parse_error(pc, root, "no endpoint sets: refusing an empty list");
	l->sets = calloc((size_t)cJSON_GetArraySize(root), sizeof(*l->sets));
	if (l->sets == NULL)
		return -ENOMEM;
	for (const cJSON *el = root->child; el != NULL; el = el->next) {
		int rc = parse_set(pc, el, l->n_sets, &l->sets[l->n_sets]);
		l->n_sets++; /* counted also on failure: m365_list_free frees it */
		if (rc != 0)
			return rc;
	}
	return check_unique_ids(pc, l, root);
}

int m365_list_parse(const char *text, const char *name, m365_list_t **out, char *err, size_t errlen)
{
	cJSON *root = NULL;
	json_pos_t *pos = NULL;
	char msg[512];
	*out = NULL;
	m365_list_t *l = calloc(1, sizeof(*l));
	if (l == NULL || (l->name = strdup(name)) == NULL) {
		free(l);
		snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	int rc = json_pos_parse(text, &root, &pos, msg, sizeof(msg));
	if (rc == -EINVAL)
		snprintf(err, errlen, "%s:%s", name, msg);
	struct parse_ctx pc = {.name = name, .pos = pos, .err = err, .errlen = errlen};
	if (rc == 0)
		rc = parse_root(&pc, root, l);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", name);
	cJSON_Delete(root);
	json_pos_free(pos);
	if (rc != 0) {
		m365_list_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

static int read_bounded(int fd, char **out)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		if (n + 1 == cap) {
			char *grown = cap > ER_M365_FILE_MAX ? NULL : realloc(buf, cap * 2);
			if (grown == NULL) {
				free(buf);
				return cap > ER_M365_FILE_MAX ? -EFBIG : -ENOMEM;
			}
			buf = grown;
			cap *= 2;
		}
		ssize_t got = read(fd, buf + n, cap - n - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			int saved = got < 0 ? -errno : 0;
			buf[n] = '\0';
			if (saved != 0)
				free(buf);
			*out = saved != 0 ? NULL : buf;
			return saved;
		}
		n += (size_t)got;
	}
}

int m365_list_load(const char *path, m365_list_t **out, char *err, size_t errlen)
{
	char *text = NULL;
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = fd < 0 ? -errno : read_bounded(fd, &text);
	if (fd >= 0)
		close(fd);
	if (rc == -EFBIG) {
		snprintf(err, errlen, "%s: larger than %u MiB; is this an endpoints list?", path,
			 ER_M365_FILE_MAX >> 20);
		return rc;
	}
	if (rc != 0) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
		return rc;
	}
	rc = m365_list_parse(text, path, out, err, errlen);
	free(text);
	return rc;
}

void m365_list_free(m365_list_t *list)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < list->n_sets; i++) {
		m365_set_t *s = &list->sets[i];
		for (size_t u = 0; u < s->n_urls; u++)
			free(s->urls[u].text);
		free(s->urls);
		for (size_t u = 0; u < s->n_ips; u++)
			free(s->ips[u].text);
		free(s->ips);
		free(s->area);
		free(s->category);
	}
	free(list->sets);
	free(list->name);
	free(list);
}

const char *m365_list_name(const m365_list_t *list)
{
	return list->name;
}

size_t m365_list_count(const m365_list_t *list)
{
	return list->n_sets;
}

const m365_set_t *m365_list_set(const m365_list_t *list, size_t i)
{
	return i < list->n_sets ? &list->sets[i] : NULL;
}
