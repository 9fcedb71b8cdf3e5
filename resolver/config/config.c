/*
 * config_load in four steps: read the file (bounded), parse it with
 * positions (json_pos), walk the schema (schema.c fills scalars, server
 * settings and groups), then resolve what needs the whole document: `via`
 * chains (equal chains share one index, so the cache and the stats count
 * per distinct path), the router with its views and rules, local zones and
 * the thread count. Any failure frees the half-built snapshot through
 * config_unref, which accepts one.
 *
 * Before the routes, check_health_policies holds the groups to one health
 * policy per server address (SPEC 2.1): health is kept per address and
 * shared by every group that lists it, so those groups must agree on when it
 * is down and how often it is probed.
 *
 * Routes are added per source: route_add_domains, and route_add_m365 which
 * loads a Microsoft 365 endpoints list and imports it (routing/m365.h); the
 * import's exceptions route to the default of the ruleset they land in (the
 * view's default inside a view that has one, else the global default). The
 * import objects own the strings their rules' origins borrow, so the
 * snapshot keeps them until after the router is freed.
 */
#include "config/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config/json_pos.h"
#include "config/schema.h"
#include "routing/m365.h"
#include "util/sockaddr.h"

#define ER_CONFIG_FILE_MAX (16u << 20) /* a config with every M365 name is < 1 MiB */

/* --- reading and parsing ------------------------------------------------- */

static int read_all(int fd, char **out, size_t *len)
{
	size_t cap = 0, n = 0;
	char *buf = NULL;
	for (;;) {
		if (n + 1 >= cap) { /* keep room for the NUL */
			if (cap > ER_CONFIG_FILE_MAX) {
				free(buf);
				return -EFBIG;
			}
			size_t bigger = cap != 0 ? cap * 2 : 65536;
			char *grown = realloc(buf, bigger);
			if (grown == NULL) {
				free(buf);
				return -ENOMEM;
			}
			buf = grown;
			cap = bigger;
		}
		ssize_t got = read(fd, buf + n, cap - n - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int saved = errno;
			free(buf);
			return -saved;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static int read_file(const char *path, char **text, char *err, size_t errlen)
{
	size_t len = 0;
	*text = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = fd < 0 ? -errno : read_all(fd, text, &len);
	if (fd >= 0)
		close(fd);
	if (rc == 0 && len > ER_CONFIG_FILE_MAX)
		rc = -EFBIG;
	if (rc == 0 && strlen(*text) != len) {
		snprintf(err, errlen, "%s: contains a NUL byte; is this a JSON file?", path);
		rc = -EINVAL;
	} else if (rc == -EFBIG) {
		snprintf(err, errlen, "%s: larger than %u MiB; is this the configuration file?",
			 path, ER_CONFIG_FILE_MAX >> 20);
	} else if (rc != 0) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
	}
	if (rc != 0) {
		free(*text);
		*text = NULL;
	}
	return rc;
}

/* The directory of path, for relative paths inside the config. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* --- chains -------------------------------------------------------------- */

static int chain_text(const config_t *c, config_chain_t *ch)
{
	size_t len = 1;
	for (size_t i = 0; i < ch->n_groups; i++)
		len += strlen(c->groups[ch->groups[i]].name) + 1;
	ch->text = malloc(len);
	if (ch->text == NULL)
		return -ENOMEM;
	ch->text[0] = '\0';
	for (size_t i = 0; i < ch->n_groups; i++) {
		if (i > 0)
			strcat(ch->text, ",");
		strcat(ch->text, c->groups[ch->groups[i]].name);
	}
	return 0;
}

/* The index of the chain groups[0..n), added when new. */
static int chain_intern(config_t *c, const uint16_t *groups, size_t n, uint32_t *out)
{
	for (size_t i = 0; i < c->n_chains; i++) {
		if (c->chains[i].n_groups == n &&
		    memcmp(c->chains[i].groups, groups, n * sizeof(*groups)) == 0) {
			*out = (uint32_t)i;
			return 0;
		}
	}
	config_chain_t *grown = realloc(c->chains, (c->n_chains + 1) * sizeof(*grown));
	if (grown == NULL)
		return -ENOMEM;
	c->chains = grown;
	config_chain_t *ch = &c->chains[c->n_chains];
	*ch = (config_chain_t){.n_groups = n};
	memcpy(ch->groups, groups, n * sizeof(*groups));
	for (size_t i = 0; i < n; i++)
		ch->may_pass_ecs |= c->groups[groups[i]].ecs == ECS_PASS;
	if (chain_text(c, ch) != 0)
		return -ENOMEM;
	*out = (uint32_t)c->n_chains++;
	return 0;
}

static int nomem(const schema_ctx_t *ctx)
{
	snprintf(ctx->err, ctx->errlen, "%s: out of memory", ctx->file);
	return -ENOMEM;
}

static int unknown_group(const schema_ctx_t *ctx, const cJSON *el, const char *path)
{
	const config_t *c = ctx->cfg;
	char known[ER_CONFIG_ERR_MAX / 2] = "";
	for (size_t i = 0; i < c->n_groups; i++) {
		size_t used = strlen(known);
		snprintf(known + used, sizeof(known) - used, "%s%s", i ? ", " : "",
			 c->groups[i].name);
	}
	if (c->n_groups == 0)
		return schema_error(ctx, el, false, path,
				    "unknown upstream group \"%s\" (\"upstreams\" defines none)",
				    el->valuestring);
	return schema_error(ctx, el, false, path, "unknown upstream group \"%s\" (known: %s)",
			    el->valuestring, known);
}

/* A `via` or `default` value (one group or a list) to a chain index. */
static int resolve_via(const schema_ctx_t *ctx, const cJSON *via, const char *path, uint32_t *out)
{
	uint16_t groups[ER_CHAIN_MAX];
	size_t n = 0, i = 0;
	for (const cJSON *el = schema_strings_next(via, NULL); el != NULL;
	     el = schema_strings_next(via, el), i++) {
		char elpath[ER_SCHEMA_PATH_MAX];
		schema_path_index(elpath, path, via, i);
		if (n == ER_CHAIN_MAX)
			return schema_error(ctx, via, false, path, "a chain has at most %d groups",
					    ER_CHAIN_MAX);
		int g = config_group_index(ctx->cfg, el->valuestring);
		if (g < 0)
			return unknown_group(ctx, el, elpath);
		for (size_t j = 0; j < n; j++)
			if (groups[j] == g)
				return schema_error(ctx, el, false, elpath,
						    "group \"%s\" appears twice in the chain",
						    el->valuestring);
		groups[n++] = (uint16_t)g;
	}
	return chain_intern(ctx->cfg, groups, n, out) == 0 ? 0 : nomem(ctx);
}

static int resolve_default(const schema_ctx_t *ctx, const config_spec_t *spec, uint32_t *out)
{
	if (spec->dflt != NULL)
		return resolve_via(ctx, spec->dflt, "default", out);
	int g = config_group_index(ctx->cfg, "branch");
	if (g < 0)
		return schema_error(ctx, NULL, false, "default",
				    "not set and there is no upstream group called \"branch\"; "
				    "add \"default\": \"GROUP\"");
	uint16_t only = (uint16_t)g;
	return chain_intern(ctx->cfg, &only, 1, out) == 0 ? 0 : nomem(ctx);
}

/* --- one health policy per address --------------------------------------- */

static bool is_same_health_policy(const config_group_t *a, const config_group_t *b)
{
	return a->max_fails == b->max_fails && a->probe_interval_ms == b->probe_interval_ms;
}

static bool group_has_server(const config_group_t *g, const struct sockaddr_storage *ss)
{
	for (size_t i = 0; i < g->n_servers; i++)
		if (sockaddr_equal((const struct sockaddr *)&g->servers[i],
				   (const struct sockaddr *)ss))
			return true;
	return false;
}

/* A group before groups[j] that lists ss under another policy, or NULL.
 * Pairwise: groups hold at most ER_GROUP_MAX_SERVERS and a config has a
 * handful of groups, so an index would cost more than it saves. */
static const config_group_t *policy_clash(const config_t *c, size_t j,
					  const struct sockaddr_storage *ss)
{
	for (size_t i = 0; i < j; i++)
		if (!is_same_health_policy(&c->groups[i], &c->groups[j]) &&
		    group_has_server(&c->groups[i], ss))
			return &c->groups[i];
	return NULL;
}

/* "max_fails 3 (here 5)", "probe_interval_ms 1000 (here 500)", or both
 * joined by " and ": only what differs, so the operator sees what to align. */
static void policy_difference(const config_group_t *there, const config_group_t *here, char *buf,
			      size_t len)
{
	int n = 0;
	buf[0] = '\0';
	if (there->max_fails != here->max_fails)
		n = snprintf(buf, len, "max_fails %u (here %u)", there->max_fails, here->max_fails);
	if (there->probe_interval_ms != here->probe_interval_ms && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "%sprobe_interval_ms %u (here %u)",
			 n > 0 ? " and " : "", there->probe_interval_ms, here->probe_interval_ms);
}

/* Points at the later group's key; the server may come from a resolv.conf
 * file, so there is no element of its own to point at. */
static int policy_clash_error(const schema_ctx_t *ctx, const config_spec_t *spec,
			      const config_group_t *there, const config_group_t *here,
			      const struct sockaddr_storage *ss)
{
	char path[ER_SCHEMA_PATH_MAX], addr[ER_SOCKADDR_TEXT_MAX], diff[128];
	const cJSON *upstreams = cJSON_GetObjectItemCaseSensitive(spec->root, "upstreams");
	schema_path_key(path, "upstreams", here->name);
	sockaddr_format((const struct sockaddr *)ss, addr, sizeof(addr));
	policy_difference(there, here, diff, sizeof(diff));
	return schema_error(ctx, cJSON_GetObjectItemCaseSensitive(upstreams, here->name), true,
			    path,
			    "server %s is also in group \"%s\" with %s; one address has one "
			    "health policy (set the same max_fails and probe_interval_ms in both "
			    "groups)",
			    addr, there->name, diff);
}

static int check_health_policies(const schema_ctx_t *ctx, const config_spec_t *spec)
{
	const config_t *c = ctx->cfg;
	for (size_t j = 1; j < c->n_groups; j++) {
		const config_group_t *g = &c->groups[j];
		for (size_t s = 0; s < g->n_servers; s++) {
			const config_group_t *other = policy_clash(c, j, &g->servers[s]);
			if (other != NULL)
				return policy_clash_error(ctx, spec, other, g, &g->servers[s]);
		}
	}
	return 0;
}

/* --- routes -------------------------------------------------------------- */

/* A new (view, route) label pair; returns its index or -ENOMEM. The slot
 * index is kept in 16 bits: past that (65535 routes) slots are shared. */
static int add_route_slot(config_t *c, const char *view, const char *fmt, size_t n)
{
	config_route_slot_t *grown = realloc(c->route_slots, (c->n_route_slots + 1) * sizeof(*grown));
	if (grown == NULL)
		return -ENOMEM;
	c->route_slots = grown;
	config_route_slot_t *s = &grown[c->n_route_slots];
	s->view = view;
	s->m365 = -1;
	snprintf(s->route, sizeof(s->route), fmt, n);
	return c->n_route_slots < UINT16_MAX ? (int)c->n_route_slots++ : UINT16_MAX;
}

static int route_add_domains(const schema_ctx_t *ctx, const spec_route_t *r, uint32_t chain,
			     uint16_t slot, ruleset_t *rs)
{
	char path[ER_SCHEMA_PATH_MAX], elpath[ER_SCHEMA_PATH_MAX];
	schema_path_key(path, r->path, "domains");
	size_t i = 0;
	for (const cJSON *el = schema_strings_next(r->domains, NULL); el != NULL;
	     el = schema_strings_next(r->domains, el), i++) {
		rule_origin_t origin = { .kind = RULE_ORIGIN_DOMAINS,
					 .file = ctx->cfg->path,
					 .m365_set_id = -1,
					 .route_slot = slot };
		json_pos_of(ctx->pos, el, &origin.line, &origin.col);
		char msg[ER_CONFIG_ERR_MAX / 2] = "";
		int rc = ruleset_add(rs, el->valuestring, chain, &origin, msg, sizeof(msg));
		if (rc == -ENOMEM)
			return nomem(ctx);
		schema_path_index(elpath, path, r->domains, i);
		if (rc != 0)
			return schema_error(ctx, el, false, elpath, "%s", msg);
	}
	return 0;
}

/* SPEC 2.2 `audit: fallback` moves an outside answer to the chain's next
 * group: a chain of one group has none. */
static int check_audit(const schema_ctx_t *ctx, const spec_route_t *r, uint32_t chain)
{
	char path[ER_SCHEMA_PATH_MAX];
	if (r->audit != ER_AUDIT_FALLBACK || ctx->cfg->chains[chain].n_groups > 1)
		return 0;
	schema_path_key(path, r->path, "audit");
	return schema_error(ctx, r->audit_item, false, path,
			    "\"fallback\" needs a later group in \"via\" to fall back to; add "
			    "one, or use \"observe\"");
}

/* Keeps m (its import and prefixes taken, also on failure) in the snapshot
 * for `erdns check` and the audit, and tells its label slot about it. */
static int keep_import(const schema_ctx_t *ctx, const spec_route_t *r, config_m365_t *m)
{
	config_t *c = ctx->cfg;
	config_m365_t *grown = realloc(c->m365, (c->n_m365 + 1) * sizeof(*grown));
	m->route = strdup(r->path);
	m->outside_log = calloc(1, sizeof(*m->outside_log));
	if (grown != NULL)
		c->m365 = grown;
	if (grown == NULL || m->route == NULL || m->outside_log == NULL) {
		free(m->route);
		free(m->outside_log);
		m365_import_free(m->import);
		prefixset_free(m->prefixes);
		return nomem(ctx);
	}
	m->audit = r->audit;
	if (m->route_slot < UINT16_MAX) /* past that, slots are shared (add_route_slot) */
		c->route_slots[m->route_slot].m365 = (int32_t)c->n_m365;
	c->m365[c->n_m365++] = *m;
	return 0;
}

/* The list's rules into args->rules, and its ExpressRoute prefixes into m. */
static int import_list(const spec_route_t *r, const m365_import_args_t *args, config_m365_t *m,
		       char *msg, size_t len)
{
	int rc = m365_import(args, &m->import, msg, len);
	if (rc == 0)
		rc = m365_prefixes(args->list, &r->m365s.filter, &m->prefixes, msg, len);
	if (rc != 0) {
		m365_import_free(m->import);
		m->import = NULL;
	}
	return rc;
}

/* SPEC 2.2 m365: a list that fails to load is reported in its own words
 * ("LIST:LINE:COL: ..."), as zone files are; one that cannot be read gets
 * the config position of its "file" key in front. */
static int route_add_m365(const schema_ctx_t *ctx, const spec_route_t *r, uint32_t chain,
			  uint32_t dflt, uint16_t slot, ruleset_t *rs)
{
	char msg[ER_CONFIG_ERR_MAX / 2] = "", path[ER_SCHEMA_PATH_MAX];
	m365_list_t *list = NULL;
	config_m365_t m = { .chain = chain, .route_slot = slot };
	int rc = check_audit(ctx, r, chain);
	if (rc != 0)
		return rc;
	rc = m365_list_load(r->m365s.file, &list, msg, sizeof(msg));
	if (rc == 0) {
		m365_import_args_t args = { .list = list, .filter = r->m365s.filter, .rules = rs,
					    .action = chain, .default_action = dflt,
					    .route_slot = slot };
		rc = import_list(r, &args, &m, msg, sizeof(msg));
	}
	m365_list_free(list);
	if (rc == 0)
		return keep_import(ctx, r, &m);
	if (rc == -ENOMEM)
		return nomem(ctx);
	if (rc == -EINVAL) {
		snprintf(ctx->err, ctx->errlen, "%s", msg);
		return rc;
	}
	schema_path_key(path, r->path, "m365.file");
	return schema_error(ctx, r->m365s.file_item, false, path, "%s", msg);
}

/* dflt: the chain exceptions of m365 imports route to. view: the view's
 * name for the metrics labels, NULL for the global routes. Each route gets
 * its label slot, and so does the default after them. */
static int add_routes(const schema_ctx_t *ctx, const spec_routes_t *routes, uint32_t dflt,
		      const char *view, ruleset_t *rs)
{
	for (size_t i = 0; i < routes->n; i++) {
		const spec_route_t *r = &routes->v[i];
		char path[ER_SCHEMA_PATH_MAX];
		uint32_t chain;
		schema_path_key(path, r->path, "via");
		int slot = add_route_slot(ctx->cfg, view, "%zu", i);
		if (slot < 0)
			return nomem(ctx);
		int rc = resolve_via(ctx, r->via, path, &chain);
		if (rc == 0)
			rc = r->m365 != NULL
				     ? route_add_m365(ctx, r, chain, dflt, (uint16_t)slot, rs)
				     : route_add_domains(ctx, r, chain, (uint16_t)slot, rs);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The label slot of view's default (index 1 + view, 0 for the global one). */
static int add_default_slot(const schema_ctx_t *ctx, int view)
{
	config_t *c = ctx->cfg;
	const char *name = view < 0 ? NULL : router_view_name(c->router, (size_t)view);
	int slot = add_route_slot(c, name, "default", 0);
	if (slot < 0)
		return nomem(ctx);
	c->default_slots[view + 1] = (uint16_t)slot;
	return 0;
}

static int add_view(const schema_ctx_t *ctx, spec_view_t *v)
{
	uint32_t dflt = ER_ROUTER_NO_DEFAULT;
	if (v->dflt != NULL) {
		char path[ER_SCHEMA_PATH_MAX];
		schema_path_key(path, v->path, "default");
		int rc = resolve_via(ctx, v->dflt, path, &dflt);
		if (rc != 0)
			return rc;
	}
	int idx = router_add_view(ctx->cfg->router, v->name, v->clients, dflt);
	v->clients = NULL; /* taken, also on failure */
	if (idx < 0)
		return nomem(ctx);
	if (dflt == ER_ROUTER_NO_DEFAULT)
		dflt = ctx->cfg->default_chain;
	int rc = add_routes(ctx, &v->routes, dflt, router_view_name(ctx->cfg->router, (size_t)idx),
			    router_rules(ctx->cfg->router, idx));
	return rc == 0 ? add_default_slot(ctx, idx) : rc;
}

static int build_router(const schema_ctx_t *ctx, config_spec_t *spec)
{
	config_t *c = ctx->cfg;
	int rc = resolve_default(ctx, spec, &c->default_chain);
	if (rc != 0)
		return rc;
	c->router = router_new(c->default_chain);
	c->default_slots = calloc(spec->n_views + 1, sizeof(*c->default_slots));
	if (c->router == NULL || c->default_slots == NULL)
		return nomem(ctx);
	static const char *const fixed[ER_ROUTE_SLOTS_FIXED] = {
		[ER_ROUTE_SLOT_LOCAL] = "local",
		[ER_ROUTE_SLOT_CHAOS] = "chaos",
		[ER_ROUTE_SLOT_NONE] = "none",
	};
	for (size_t i = 0; i < ER_ROUTE_SLOTS_FIXED; i++) {
		if (add_route_slot(c, NULL, fixed[i], 0) < 0)
			return nomem(ctx);
	}
	rc = add_routes(ctx, &spec->routes, c->default_chain, NULL, router_rules(c->router, -1));
	if (rc == 0)
		rc = add_default_slot(ctx, -1);
	for (size_t i = 0; rc == 0 && i < spec->n_views; i++)
		rc = add_view(ctx, &spec->views[i]);
	return rc;
}

/* --- zones and threads --------------------------------------------------- */

/* An error inside a zone file (-EINVAL) is reported as the zone file's own
 * "ZONEFILE:LINE: ..." message: that is where the operator must look. A zone
 * file that cannot be opened, or a second zone with the same apex, is a
 * mistake in the config, so it gets the config's position in front. */
static int load_zone(const schema_ctx_t *ctx, const spec_zone_t *z, size_t i)
{
	char msg[ER_CONFIG_ERR_MAX / 2] = "";
	int rc = zoneset_load(ctx->cfg->zones, z->file, msg, sizeof(msg));
	if (rc == 0)
		return 0;
	if (rc == -ENOMEM)
		return nomem(ctx);
	if (rc == -EINVAL && msg[0] != '\0') {
		snprintf(ctx->err, ctx->errlen, "%s", msg);
		return -EINVAL;
	}
	char path[ER_SCHEMA_PATH_MAX];
	schema_path_printf(path, "zones[%zu].file", i);
	if (msg[0] != '\0')
		return schema_error(ctx, z->item, false, path, "%s", msg);
	return schema_error(ctx, z->item, false, path, "%s: cannot load: %s", z->file,
			    strerror(-rc));
}

static int load_zones(const schema_ctx_t *ctx, const config_spec_t *spec)
{
	ctx->cfg->zones = zoneset_new();
	if (ctx->cfg->zones == NULL)
		return nomem(ctx);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < spec->n_zones; i++)
		rc = load_zone(ctx, &spec->zones[i], i);
	return rc;
}

static unsigned resolve_threads(unsigned configured)
{
	if (configured != 0)
		return configured;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 1)
		return 1;
	return cpus > 256 ? 256 : (unsigned)cpus;
}

/* --- the snapshot -------------------------------------------------------- */

static int parse(const char *path, const char *text, cJSON **root, json_pos_t **pos, char *err,
		 size_t errlen)
{
	char msg[ER_CONFIG_ERR_MAX];
	int rc = json_pos_parse(text, root, pos, msg, sizeof(msg));
	if (rc != 0)
		snprintf(err, errlen, "%s:%s", path, msg);
	return rc;
}

static config_t *config_new(const char *path)
{
	config_t *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	atomic_init(&c->refs, 1);
	c->path = strdup(path);
	if (c->path == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

config_t *config_load(const char *path, char *err, size_t errlen)
{
	config_t *c = NULL;
	cJSON *root = NULL;
	json_pos_t *pos = NULL;
	config_spec_t spec = {0};
	char *text = NULL, *dir = NULL;
	int rc = read_file(path, &text, err, errlen);
	if (rc == 0)
		rc = parse(path, text, &root, &pos, err, errlen);
	if (rc != 0)
		goto cleanup;
	c = config_new(path);
	dir = dir_of(path);
	if (c == NULL || dir == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		rc = -ENOMEM;
		goto cleanup;
	}
	schema_ctx_t ctx = {
	    .cfg = c, .file = path, .dir = dir, .pos = pos, .err = err, .errlen = errlen};
	rc = schema_walk(&ctx, root, &spec);
	if (rc == 0)
		rc = check_health_policies(&ctx, &spec);
	if (rc == 0)
		rc = build_router(&ctx, &spec);
	if (rc == 0)
		rc = load_zones(&ctx, &spec);
	c->threads = resolve_threads(c->threads);
cleanup:
	spec_deinit(&spec);
	cJSON_Delete(root);
	json_pos_free(pos);
	free(text);
	free(dir);
	if (rc != 0) {
		config_unref(c);
		c = NULL;
	}
	return c;
}

config_t *config_ref(config_t *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

static void config_free(config_t *c)
{
	if (c->allow != NULL)
		acl_free(c->allow);
	free(c->user);
	free(c->identity);
	for (size_t i = 0; i < c->n_groups; i++)
		free(c->groups[i].name);
	free(c->groups);
	for (size_t i = 0; i < c->n_chains; i++)
		free(c->chains[i].text);
	free(c->chains);
	free(c->route_slots); /* their view names are the router's */
	free(c->default_slots);
	if (c->router != NULL)
		router_free(c->router);
	for (size_t i = 0; i < c->n_m365; i++) { /* after the router: its rules borrow them */
		m365_import_free(c->m365[i].import);
		prefixset_free(c->m365[i].prefixes);
		free(c->m365[i].outside_log);
		free(c->m365[i].route);
	}
	free(c->m365);
	if (c->zones != NULL)
		zoneset_free(c->zones);
	free(c->control_socket);
	free(c->metrics_listen);
	free(c->query_file);
	free(c->path); /* after the router: its rules' origins borrow it */
	free(c);
}

void config_unref(config_t *c)
{
	if (c == NULL)
		return;
	/* acq_rel: the last holder must see every other holder's reads done */
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
		config_free(c);
}

const config_m365_t *config_m365_of(const config_t *c, const rule_t *rule)
{
	if (rule == NULL || rule->origin.kind != RULE_ORIGIN_M365 || rule->origin.is_exception ||
	    rule->origin.route_slot >= c->n_route_slots)
		return NULL;
	int32_t i = c->route_slots[rule->origin.route_slot].m365;
	return i >= 0 ? &c->m365[i] : NULL;
}

bool config_same_audit(const config_t *a, const config_t *b)
{
	if (a->n_m365 != b->n_m365)
		return false;
	for (size_t i = 0; i < a->n_m365; i++) {
		const config_m365_t *x = &a->m365[i], *y = &b->m365[i];
		if (x->chain != y->chain || x->audit != y->audit ||
		    !prefixset_equal(x->prefixes, y->prefixes))
			return false;
	}
	return true;
}

int config_group_index(const config_t *c, const char *name)
{
	for (size_t i = 0; i < c->n_groups; i++)
		if (strcmp(c->groups[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* --- `erdns check` summary ----------------------------------------------- */

static void print_addrs(FILE *out, const struct sockaddr_storage *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char buf[ER_SOCKADDR_TEXT_MAX];
		sockaddr_format((const struct sockaddr *)&v[i], buf, sizeof(buf));
		fprintf(out, "%s%s", i ? ", " : "", buf);
	}
	fputc('\n', out);
}

static void print_acl(FILE *out, const acl_t *acl)
{
	size_t n = acl != NULL ? acl_count(acl) : 0;
	for (size_t i = 0; i < n; i++) {
		char buf[64];
		netblock_format(acl_get(acl, i), buf, sizeof(buf));
		fprintf(out, "%s%s", i ? ", " : "", buf);
	}
	fprintf(out, "%s\n", n == 0 ? "(nobody)" : "");
}

static void print_group(FILE *out, const config_group_t *g)
{
	char ecs[64] = "strip";
	if (g->ecs == ECS_PASS)
		snprintf(ecs, sizeof(ecs), "pass");
	else if (g->ecs == ECS_PREFIX)
		netblock_format(&g->ecs_prefix, ecs, sizeof(ecs));
	fprintf(out, "  %-12s %s, timeout %u ms, max_fails %u, probe %u ms, tcp %s, ecs %s\n",
		g->name, select_policy_name(g->select), g->timeout_ms, g->max_fails,
		g->probe_interval_ms, g->tcp == TCP_MODE_ALWAYS ? "always" : "fallback", ecs);
	fprintf(out, "  %-12s ", "");
	print_addrs(out, g->servers, g->n_servers);
}

static void print_origin(FILE *out, const char *label, const ruleset_t *rs,
			 rule_origin_kind_t o)
{
	fprintf(out, "  %-18s %zu from %s (exact %zu, subtree %zu, below %zu, glob %zu)\n", label,
		ruleset_count_origin(rs, o), o == RULE_ORIGIN_M365 ? "m365" : "domains",
		ruleset_count_origin_kind(rs, o, RULE_EXACT),
		ruleset_count_origin_kind(rs, o, RULE_SUBTREE),
		ruleset_count_origin_kind(rs, o, RULE_BELOW),
		ruleset_count_origin_kind(rs, o, RULE_GLOB));
}

static void print_rules(FILE *out, const char *label, const ruleset_t *rs)
{
	print_origin(out, label, rs, RULE_ORIGIN_DOMAINS);
	if (ruleset_count_origin(rs, RULE_ORIGIN_M365) > 0)
		print_origin(out, "", rs, RULE_ORIGIN_M365);
}

/* The audit's line: how many prefixes can prove an answer inside, and the
 * family the list gives none for (its answers go unjudged). */
static void print_audit(const config_m365_t *m, FILE *out)
{
	size_t v4 = prefixset_count(m->prefixes, AF_INET), v6 = prefixset_count(m->prefixes, AF_INET6);
	fprintf(out, "    audit: %s, ExpressRoute prefixes: %zu IPv4, %zu IPv6%s\n",
		m->audit == ER_AUDIT_FALLBACK ? "fallback" : "observe", v4, v6,
		v4 == 0 && v6 == 0 ? " (no answer can be judged)"
		: v4 == 0	   ? " (A answers are not judged)"
		: v6 == 0	   ? " (AAAA answers are not judged)"
				   : "");
}

static void print_m365(const config_t *c, FILE *out)
{
	if (c->n_m365 == 0)
		return;
	fprintf(out, "m365 lists (%zu):\n", c->n_m365);
	for (size_t i = 0; i < c->n_m365; i++) {
		const config_m365_t *m = &c->m365[i];
		fprintf(out, "  %s: %s via %s\n", m->route, m365_import_file(m->import),
			c->chains[m->chain].text);
		m365_import_print(m->import, out, 4);
		print_audit(m, out);
	}
}

static void print_routing(const config_t *c, FILE *out)
{
	fprintf(out, "chains (%zu):\n", c->n_chains);
	for (size_t i = 0; i < c->n_chains; i++)
		fprintf(out, "  %s\n", c->chains[i].text);
	fprintf(out, "rules:\n");
	print_rules(out, "global", router_rules_const(c->router, -1));
	for (size_t i = 0; i < router_view_count(c->router); i++) {
		char label[64];
		snprintf(label, sizeof(label), "view %s", router_view_name(c->router, i));
		print_rules(out, label, router_rules_const(c->router, (int)i));
	}
	print_m365(c, out);
	fprintf(out, "default:  %s\n", c->chains[c->default_chain].text);
}

static void print_zones(const config_t *c, FILE *out)
{
	size_t n = zoneset_count(c->zones);
	fprintf(out, "zones (%zu):\n", n);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  %-24s %zu records  %s\n", zoneset_apex_text(c->zones, i),
			zoneset_record_count(c->zones, i), zoneset_file(c->zones, i));
}

void config_print_summary(const config_t *c, FILE *out)
{
	fprintf(out, "config:   %s\nlisten:   ", c->path);
	print_addrs(out, c->listen, c->n_listen);
	fprintf(out, "threads:  %u\nallow:    ", c->threads);
	print_acl(out, c->allow);
	fprintf(out, "identity: %s\nuser:     %s\nquery timeout: %u ms\n", c->identity,
		c->user != NULL ? c->user : "(no privilege drop)", c->query_timeout_ms);
	if (c->client_qps == 0)
		fprintf(out, "client limit: off\n");
	else
		fprintf(out, "client limit: %u queries/s, burst %u, per IPv4 /32 and IPv6 /64\n",
			c->client_qps, c->client_burst);
	fprintf(out, "upstream groups (%zu):\n", c->n_groups);
	for (size_t i = 0; i < c->n_groups; i++)
		print_group(out, &c->groups[i]);
	print_routing(c, out);
	print_zones(c, out);
	static const char *const levels[] = {"error", "warn", "info", "debug"};
	fprintf(out, "log level: %s\n", levels[c->log_level]);
	fprintf(out, "cache:    %u MB, ttl %u..%u s, negative <= %u s, stale %u s, fallback <= %u s, "
		     "prefetch %s\n",
		c->cache.max_mb, c->cache.min_ttl_s, c->cache.max_ttl_s, c->cache.max_negative_ttl_s,
		c->cache.serve_stale_s, c->cache.fallback_ttl_s, c->cache.prefetch ? "on" : "off");
	fprintf(out, "control:  %s (erdns ctl)\n", c->control_socket);
	fprintf(out, "metrics:  %s\n", c->metrics_listen ? c->metrics_listen : "off");
	fprintf(out, "query log: %s\n",
		!c->log_queries ? "off" : c->query_file ? c->query_file : "stderr");
}
