/*
 * `erdns ctl` output for people (ctl.h): aligned tables for upstreams and
 * cache-dump, "key: value" lines for stats and reload, the server's own
 * text for explain, health, flush and reopen. Everything comes from the
 * JSON reply, so --json and these never say different things.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl.h"

/* --- tables -------------------------------------------------------------- */

#define TABLE_COLS_MAX 8

typedef struct table {
	size_t n_cols, n_rows, cap;
	char **cells; /* n_rows x n_cols, row 0 the header */
	size_t width[TABLE_COLS_MAX];
} table_t;

static void table_add(table_t *t, const char *const *row)
{
	if (t->n_rows == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		char **p = realloc(t->cells, cap * t->n_cols * sizeof(*p));
		if (p == NULL)
			return; /* a row short: output is for people, memory is gone */
		t->cells = p;
		t->cap = cap;
	}
	for (size_t c = 0; c < t->n_cols; c++) {
		char *s = strdup(row[c] ? row[c] : "");
		t->cells[t->n_rows * t->n_cols + c] = s;
		size_t w = s ? strlen(s) : 0;
		if (w > t->width[c])
			t->width[c] = w;
	}
	t->n_rows++;
}

/* Prints and frees t; the last column is not padded. */
static void table_print(table_t *t)
{
	for (size_t r = 0; r < t->n_rows; r++) {
		for (size_t c = 0; c < t->n_cols; c++) {
			const char *s = t->cells[r * t->n_cols + c];
			if (c + 1 < t->n_cols)
				printf("%-*s  ", (int)t->width[c], s ? s : "");
			else
				printf("%s\n", s ? s : "");
		}
	}
	for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
		free(t->cells[i]);
	free(t->cells);
}

/* --- field access -------------------------------------------------------- */

static const char *str(const cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
	return s ? s : "-";
}

static double num(const cJSON *o, const char *key)
{
	return cJSON_GetNumberValue(cJSON_GetObjectItem(o, key));
}

static bool flag(const cJSON *o, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItem(o, key));
}

/* A number or null ("unknown"), as text. */
static const char *num_or(const cJSON *o, const char *key, const char *none, char *buf,
			  size_t len)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);
	if (!cJSON_IsNumber(v))
		return none;
	snprintf(buf, len, "%.0f", v->valuedouble);
	return buf;
}

/* "a, b" or "-" */
static void join(const cJSON *arr, char *buf, size_t len)
{
	size_t used = 0;
	const cJSON *it;
	snprintf(buf, len, "-");
	cJSON_ArrayForEach(it, arr)
	{
		int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
				 cJSON_GetStringValue(it));
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
	}
}

/* --- the commands -------------------------------------------------------- */

static void print_members(const cJSON *o, const char *prefix)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, o)
	{
		char key[128];
		snprintf(key, sizeof(key), "%s%s:", prefix, it->string);
		if (cJSON_IsNumber(it))
			printf("%-26s %.0f\n", key, it->valuedouble);
	}
}

static void print_stats(const cJSON *r)
{
	printf("%-26s %.0f\n", "uptime_s:", num(r, "uptime_s"));
	printf("%-26s %.0f\n", "workers:", num(r, "workers"));
	print_members(cJSON_GetObjectItem(r, "counters"), "");
	print_members(cJSON_GetObjectItem(r, "cache"), "cache_");
}

static void print_upstreams(const cJSON *r)
{
	table_t t = { .n_cols = 6 };
	table_add(&t, (const char *const[]){ "GROUP", "ADDRESS", "STATE", "RTT_MS", "FAILURES",
					     "LAST_CHANGE" });
	const cJSON *u;
	cJSON_ArrayForEach(u, cJSON_GetObjectItem(r, "upstreams"))
	{
		char rtt[32], fails[32];
		snprintf(fails, sizeof(fails), "%.0f", num(u, "failures"));
		table_add(&t, (const char *const[]){ str(u, "group"), str(u, "address"),
						     str(u, "state"),
						     num_or(u, "rtt_ms", "unknown", rtt, sizeof(rtt)),
						     fails, str(u, "last_change") });
	}
	table_print(&t);
}

static void dump_flags(const cJSON *e, char *buf, size_t len)
{
	static const char *const names[] = { "stale", "servfail", "fallback", "do", "cd" };
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (flag(e, names[i]))
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? "," : "",
						 names[i]);
	}
	if (used == 0)
		snprintf(buf, len, "-");
}

static void print_cache_dump(const cJSON *r)
{
	table_t t = { .n_cols = 6 };
	table_add(&t, (const char *const[]){ "NAME", "TYPE", "CLASS", "CHAIN", "TTL", "FLAGS" });
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(r, "entries"))
	{
		char ttl[16], flags[64];
		snprintf(ttl, sizeof(ttl), "%.0f", num(e, "ttl"));
		dump_flags(e, flags, sizeof(flags));
		const char *chain = flag(e, "old_routes") ? "(old routes)" : str(e, "chain");
		table_add(&t, (const char *const[]){ str(e, "name"), str(e, "type"),
						     str(e, "class"), chain, ttl, flags });
	}
	table_print(&t);
	printf("%.0f entries%s\n", num(r, "count"),
	       flag(r, "truncated") ? " (truncated: more are cached)" : "");
}

static void print_explain(const cJSON *r)
{
	printf("%s\n", str(r, "text"));
	printf("name:     %s\n", str(r, "name"));
	const char *client = cJSON_GetStringValue(cJSON_GetObjectItem(r, "client"));
	printf("client:   %s\n", client ? client : "(none: views not consulted)");
	if (flag(r, "local")) {
		printf("answer:   local zone %s (authoritative)\n", str(r, "zone"));
		return;
	}
	const char *view = cJSON_GetStringValue(cJSON_GetObjectItem(r, "view"));
	printf("view:     %s\n", view ? view : "(none)");
	printf("rule:     %s\nsource:   %s\nvia:      %s\n", str(r, "rule"), str(r, "source"),
	       str(r, "via"));
	char rtt[32] = "unknown";
	const cJSON *ms = cJSON_GetObjectItem(r, "rtt_ms");
	if (cJSON_IsNumber(ms))
		snprintf(rtt, sizeof(rtt), "%.0f ms", ms->valuedouble);
	printf("upstream: %s (group %s, rtt %s)\n", str(r, "upstream"), str(r, "group"), rtt);
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItem(r, "cache"))
	{
		if (strcmp(str(c, "state"), "hit") == 0)
			printf("cache:    %s hit, ttl %.0f s\n", str(c, "type"), num(c, "ttl"));
		else
			printf("cache:    %s %s\n", str(c, "type"), str(c, "state"));
	}
}

static void print_rules(const cJSON *rules)
{
	const cJSON *row;
	cJSON_ArrayForEach(row, rules)
	{
		printf("rules:          %s: %.0f domains (was %.0f), %.0f m365 (was %.0f)\n",
		       str(row, "scope"), num(row, "domains"), num(row, "was_domains"),
		       num(row, "m365"), num(row, "was_m365"));
	}
}

static void print_reload(const cJSON *r)
{
	const cJSON *ch = cJSON_GetObjectItem(r, "changes");
	const cJSON *groups = cJSON_GetObjectItem(ch, "groups");
	const cJSON *zones = cJSON_GetObjectItem(ch, "zones");
	char buf[1024], buf2[1024];
	printf("%s\n", str(r, "message"));
	join(cJSON_GetObjectItem(groups, "added"), buf, sizeof(buf));
	printf("groups added:   %s\n", buf);
	join(cJSON_GetObjectItem(groups, "removed"), buf, sizeof(buf));
	printf("groups removed: %s\n", buf);
	join(cJSON_GetObjectItem(groups, "changed"), buf, sizeof(buf));
	printf("groups changed: %s\n", buf);
	print_rules(cJSON_GetObjectItem(ch, "rules"));
	join(cJSON_GetObjectItem(zones, "added"), buf, sizeof(buf));
	join(cJSON_GetObjectItem(zones, "removed"), buf2, sizeof(buf2));
	printf("zones:          %.0f (added: %s; removed: %s)\n", num(zones, "count"), buf, buf2);
	const cJSON *chains = cJSON_GetObjectItem(ch, "chains");
	printf("route chains:   %.0f, %s\n", num(chains, "count"),
	       flag(chains, "renumbered") ? "renumbered (new route epoch)" : "unchanged");
	printf("cache flushed:  %.0f entries\n", num(ch, "cache_flushed"));
	join(cJSON_GetObjectItem(ch, "restart_needed"), buf, sizeof(buf));
	printf("restart needed: %s\n", buf);
}

static void print_flush(const cJSON *r)
{
	const char *scope = str(r, "scope");
	double n = num(r, "removed");
	const char *entries = n == 1 ? "entry" : "entries";
	if (strcmp(scope, "all") == 0)
		printf("flushed %.0f %s (the whole cache)\n", n, entries);
	else if (strcmp(scope, "subtree") == 0)
		printf("flushed %.0f %s (%s and below)\n", n, entries, str(r, "name"));
	else
		printf("flushed %.0f %s (%s)\n", n, entries, str(r, "name"));
}

static void print_health(const cJSON *r)
{
	const char *reason = str(r, "reason");
	if (strcmp(reason, "-") == 0 || reason[0] == '\0')
		printf("%s\n", str(r, "status"));
	else
		printf("%s: %s\n", str(r, "status"), reason);
}

static void print_message(const cJSON *r)
{
	printf("%s\n", str(r, "message"));
}

void ctl_print(const char *cmd, const cJSON *reply)
{
	static const struct {
		const char *cmd;
		void (*print)(const cJSON *reply);
	} printers[] = {
		{ "stats", print_stats },	{ "reload", print_reload },
		{ "flush", print_flush },	{ "upstreams", print_upstreams },
		{ "explain", print_explain },	{ "cache-dump", print_cache_dump },
		{ "health", print_health },	{ "reopen", print_message },
	};
	for (size_t i = 0; i < sizeof(printers) / sizeof(printers[0]); i++) {
		if (strcmp(cmd, printers[i].cmd) == 0) {
			printers[i].print(reply);
			return;
		}
	}
	char *text = cJSON_Print(reply); /* a command this client does not know */
	if (text)
		printf("%s\n", text);
	free(text);
}
