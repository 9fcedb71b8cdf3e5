/*
 * PAC output. Each rule becomes one JavaScript test on the lower-cased host
 * without its trailing dot:
 *   exact "=x"   host == "x"
 *   subtree "x"  host == "x" || dnsDomainIs(host, ".x")
 *   "*.x"        dnsDomainIs(host, ".x")     (strictly below, like DNS)
 *   glob         shExpMatch(host, "pattern") (the same '*' semantics)
 * in the order of ruleset_list, so exceptions (deeper or more specific)
 * come before the wildcards they carve out of, as in Microsoft's own PAC
 * generator. Consecutive tests with the same result share one `if`, and
 * the tail of tests whose result equals the final default is dropped: no
 * later test could override them, so they change nothing.
 *
 * Local zones come first and go to the proxy: DNS answers them itself and
 * routes them to no group, and the contract is "DIRECT exactly the names
 * routed to the groups". Views are not represented: a PAC file has no
 * client address worth trusting, so it follows the global routes.
 */
#include "routing/pac.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One test of the output, in order. */
struct test {
	const char *pattern; /* ruleset text, '=' included */
	rule_kind_t kind;
	bool is_direct;
	const rule_t *rule; /* NULL for a local zone */
};

static bool is_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr(".-_:[]", c) != NULL;
}

/* One "KIND host:port" or "DIRECT" element. */
static int check_element(const char *e, size_t len)
{
	static const char *const kinds[] = {"PROXY ", "HTTP ",	 "HTTPS ",
					    "SOCKS ", "SOCKS4 ", "SOCKS5 "};
	if (len == 6 && strncmp(e, "DIRECT", 6) == 0)
		return 0;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		size_t kl = strlen(kinds[k]);
		if (len <= kl || strncmp(e, kinds[k], kl) != 0)
			continue;
		for (size_t i = kl; i < len; i++) {
			if (!is_token_char(e[i]))
				return -EINVAL;
		}
		return memchr(e + kl, ':', len - kl) != NULL ? 0 : -EINVAL;
	}
	return -EINVAL;
}

int pac_proxy_check(const char *proxy)
{
	const char *p = proxy;
	for (;;) {
		while (*p == ' ')
			p++;
		size_t len = strcspn(p, ";");
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if (len == 0 || check_element(p, len) != 0)
			return -EINVAL;
		p += strcspn(p, ";");
		if (*p == '\0')
			return 0;
		p++;
	}
}

static bool rule_direct(const pac_args_t *a, const rule_t *r)
{
	return r->action < a->n_actions && a->is_direct[r->action];
}

/* The tests in order, the useless tail dropped; caller frees. */
static struct test *build_tests(const pac_args_t *a, size_t *n)
{
	const rule_t **rules = NULL;
	size_t nrules = 0, k = 0;
	if (ruleset_list(a->rules, &rules, &nrules) != 0)
		return NULL;
	struct test *t = calloc(a->n_local_zones + nrules + 1, sizeof(*t));
	if (t == NULL) {
		free(rules);
		return NULL;
	}
	for (size_t i = 0; i < a->n_local_zones; i++)
		t[k++] = (struct test){a->local_zones[i], RULE_SUBTREE, false, NULL};
	for (size_t i = 0; i < nrules; i++)
		t[k++] = (struct test){rules[i]->pattern, rules[i]->kind, rule_direct(a, rules[i]),
				       rules[i]};
	free(rules);
	while (k > 0 && t[k - 1].is_direct == a->is_default_direct)
		k--;
	*n = k;
	return t;
}

/* A JavaScript string literal; patterns are ASCII without controls, but a
 * quote or backslash in an operator's pattern must not end the string. */
static void put_js_string(FILE *out, const char *prefix, const char *s)
{
	fputc('"', out);
	fputs(prefix, out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static void put_test(FILE *out, const struct test *t)
{
	const char *text = t->pattern[0] == '=' ? t->pattern + 1 : t->pattern;
	switch (t->kind) {
	case RULE_EXACT:
		fputs("host == ", out);
		put_js_string(out, "", text);
		break;
	case RULE_SUBTREE:
		fputs("host == ", out);
		put_js_string(out, "", text);
		fputs(" || dnsDomainIs(host, ", out);
		put_js_string(out, ".", text);
		fputc(')', out);
		break;
	case RULE_BELOW:
		fputs("dnsDomainIs(host, ", out);
		put_js_string(out, "", text + 1); /* "*.x" -> ".x" */
		fputc(')', out);
		break;
	case RULE_GLOB:
		fputs("shExpMatch(host, ", out);
		put_js_string(out, "", text);
		fputc(')', out);
		break;
	}
}

static void put_source(FILE *out, const struct test *t)
{
	if (t->rule == NULL) {
		fputs("  // local zone", out);
	} else if (t->rule->origin.kind == RULE_ORIGIN_M365) {
		fprintf(out, "  // m365:%d", (int)t->rule->origin.m365_set_id);
	} else {
		const char *file = t->rule->origin.file ? t->rule->origin.file : "?";
		const char *slash = strrchr(file, '/');
		fprintf(out, "  // %s:%u", slash ? slash + 1 : file, t->rule->origin.line);
	}
}

static void put_tests(FILE *out, const struct test *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool first = i == 0 || t[i - 1].is_direct != t[i].is_direct;
		bool last = i + 1 == n || t[i + 1].is_direct != t[i].is_direct;
		fputs(first ? "\tif (" : "\t    ", out);
		if (t[i].kind == RULE_SUBTREE)
			fputc('(', out);
		put_test(out, &t[i]);
		if (t[i].kind == RULE_SUBTREE)
			fputc(')', out);
		fputs(last ? ")" : " ||", out);
		put_source(out, &t[i]);
		fputc('\n', out);
		if (last)
			fprintf(out, "\t\treturn %s;\n", t[i].is_direct ? "direct" : "proxy");
	}
}

int pac_write(const pac_args_t *a, FILE *out)
{
	size_t n = 0;
	struct test *t = build_tests(a, &n);
	if (t == NULL)
		return -ENOMEM;
	fprintf(out, "// PAC file generated by erdns %s\n", ERDNS_VERSION);
	if (a->comment != NULL)
		fprintf(out, "// %s\n", a->comment);
	fputs("// Tests run in DNS precedence order: the first match decides.\n"
	      "function FindProxyForURL(url, host)\n{\n",
	      out);
	fputs("\tvar direct = \"DIRECT\";\n\tvar proxy = ", out);
	put_js_string(out, "", a->proxy);
	fputs(";\n\thost = host.toLowerCase();\n"
	      "\tif (host.charAt(host.length - 1) == \".\")\n"
	      "\t\thost = host.substring(0, host.length - 1);\n",
	      out);
	put_tests(out, t, n);
	fprintf(out, "\treturn %s;\n}\n", a->is_default_direct ? "direct" : "proxy");
	free(t);
	return ferror(out) ? -EIO : 0;
}
