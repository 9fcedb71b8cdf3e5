/*
 * The configuration schema (SPEC 2): one table row per key, walked by one
 * generic function. Internal to config/: config.c calls schema_walk and then
 * resolves what needs the whole document (via chains, views, the default,
 * zones) from the validated spec it returns.
 */
#ifndef ERDNS_CONFIG_SCHEMA_H
#define ERDNS_CONFIG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config/config.h"
#include "config/json_pos.h"
#include "routing/er_audit.h"
#include "routing/m365.h"

#define ER_SCHEMA_PATH_MAX 256
#define ER_GROUP_NAME_MAX  32

/* What every walker function needs to read the document and report. */
typedef struct schema_ctx {
	config_t *cfg;	  /* the snapshot being filled */
	const char *file; /* the config file as given, for messages */
	const char *dir;  /* its directory: relative paths are resolved against it */
	const json_pos_t *pos;
	char *err;
	size_t errlen;
} schema_ctx_t;

/* routes[].m365, validated (SPEC 2.2). */
typedef struct spec_m365 {
	char *file; /* resolved against the config file's directory; owned */
	const cJSON *file_item;
	m365_filter_t filter;
} spec_m365_t;

/* A route object, shape-checked: exactly one of domains and m365; via is a
 * string or a non-empty array of strings. Items point into the cJSON tree. */
typedef struct spec_route {
	char path[ER_SCHEMA_PATH_MAX]; /* "routes[2]", "views[0].routes[1]" */
	const cJSON *item;
	const cJSON *domains; /* non-empty array of strings, or one string */
	const cJSON *m365;    /* object */
	spec_m365_t m365s;    /* its contents, when m365 is set */
	const cJSON *via;
	er_audit_policy_t audit; /* default ER_AUDIT_OBSERVE */
	const cJSON *audit_item; /* NULL when absent */
} spec_route_t;

typedef struct spec_routes {
	size_t n;
	spec_route_t *v;
} spec_routes_t;

typedef struct spec_view {
	char path[ER_SCHEMA_PATH_MAX]; /* "views[1]" */
	const cJSON *item;
	char *name;
	acl_t *clients; /* owned until handed to router_add_view */
	spec_routes_t routes;
	const cJSON *dflt; /* NULL: falls through to the global default */
} spec_view_t;

typedef struct spec_zone {
	const cJSON *item; /* the "file" string */
	char *file;	   /* resolved against the config file's directory */
} spec_zone_t;

/*
 * The walked document. Scalars, server settings and upstream groups are
 * written straight into ctx->cfg; what refers to other parts of the document
 * is kept here for config.c. Items point into the cJSON tree walked.
 */
typedef struct config_spec {
	const cJSON *root;
	spec_routes_t routes;
	size_t n_views;
	spec_view_t *views;
	const cJSON *dflt; /* NULL when absent */
	size_t n_zones;
	spec_zone_t *zones;
} config_spec_t;

/*
 * Validates root against the schema, filling ctx->cfg (zeroed before) and
 * spec (zeroed before). Returns 0, or -EINVAL/-ENOMEM with
 * "FILE:LINE:COL: PATH: what" in ctx->err. On failure what was filled is
 * still released by spec_deinit and config_unref.
 */
int schema_walk(const schema_ctx_t *ctx, const cJSON *root, config_spec_t *spec);

/* Frees what spec owns (not cfg). Accepts a half-filled spec. */
void spec_deinit(config_spec_t *spec);

/*
 * Writes "FILE:LINE:COL: PATH: message" into ctx->err, LINE:COL being where
 * at (its key, when at_key and it has one) starts; without LINE:COL when at
 * is NULL or unknown, without "PATH: " when path is empty. Returns -EINVAL.
 */
int schema_error(const schema_ctx_t *ctx, const cJSON *at, bool at_key, const char *path,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Iterates a string-or-array-of-strings value: pass prev NULL first. */
const cJSON *schema_strings_next(const cJSON *value, const cJSON *prev);

/* Formats a JSON path into out; a path too long ends in "...". */
void schema_path_printf(char out[ER_SCHEMA_PATH_MAX], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "PATH.key", or "key" when PATH is empty. */
void schema_path_key(char out[ER_SCHEMA_PATH_MAX], const char *path, const char *key);

/* The path of element i of such a value: "PATH[i]" for an array, PATH for a
 * lone string. */
void schema_path_index(char out[ER_SCHEMA_PATH_MAX], const char *path, const cJSON *value,
		       size_t i);

/* Resolves a path from the config file against ctx->dir; NULL on ENOMEM. */
char *schema_resolve_path(const schema_ctx_t *ctx, const char *path);

/* Levenshtein distance, for "did you mean"; exposed for tests. */
size_t schema_edit_distance(const char *a, const char *b);

#endif
