/*
 * `erdns m365 diff OLD.json NEW.json [filters] [--json]`: what changes in
 * routing between two Microsoft 365 endpoint lists (routing/m365_diff.c),
 * for a person reviewing the monthly update or for the refresh job.
 *
 * Exit status: 0 no change, 3 changes (so a script can tell "changed" from
 * "broken" without parsing), 1 a list that does not load, 2 usage. 3 rather
 * than 1 because diff(1)'s "1 = differences" would collide with SPEC 1's
 * "1 = bad input".
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "routing/m365.h"

#define M365_USAGE                                                                                 \
	"erdns m365 diff OLD.json NEW.json [--expressroute true|false] [--service-areas A,B]\n"    \
	"                [--categories C,D] [--required-only] [--json]\n"                          \
	"exit: 0 no change, 3 changes, 1 a list does not load, 2 usage\n"                         \
	"erdns m365 audit [-c FILE] [NAME...] [--json] [--timeout-ms MS]  (see: m365 audit --help)"

enum { OPT_ER = 256, OPT_AREAS, OPT_CATS, OPT_REQUIRED, OPT_JSON, OPT_VERSION };

struct diff_opts {
	m365_filter_t filter;
	bool is_json;
	const char *old_path, *new_path;
};

/* "A,B" into filter bits via parse (m365_area_parse or m365_category_parse). */
static int parse_names(const char *list, int (*parse)(const char *, unsigned *), unsigned *bits)
{
	char *copy = strdup(list), *save = NULL;
	int rc = copy != NULL ? 0 : -1;
	*bits = 0;
	for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; rc == 0 && tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		unsigned bit;
		rc = parse(tok, &bit);
		*bits |= bit;
	}
	free(copy);
	return rc == 0 && *bits != 0 ? 0 : -1;
}

static int parse_option(int opt, struct diff_opts *o)
{
	switch (opt) {
	case OPT_ER:
		if (strcmp(optarg, "true") != 0 && strcmp(optarg, "false") != 0)
			return cli_usage_error(M365_USAGE,
					       "m365: --expressroute takes true or false");
		o->filter.is_expressroute = strcmp(optarg, "true") == 0;
		return -1;
	case OPT_AREAS:
		if (parse_names(optarg, m365_area_parse, &o->filter.areas) != 0)
			return cli_usage_error(M365_USAGE,
					       "m365: --service-areas: expected names "
					       "from %s",
					       m365_area_names());
		return -1;
	case OPT_CATS:
		if (parse_names(optarg, m365_category_parse, &o->filter.categories) != 0)
			return cli_usage_error(M365_USAGE,
					       "m365: --categories: expected names "
					       "from %s",
					       m365_category_names());
		return -1;
	case OPT_REQUIRED:
		o->filter.is_required_only = true;
		return -1;
	case OPT_JSON:
		o->is_json = true;
		return -1;
	case 'h':
		printf("usage: %s\n", M365_USAGE);
		return ER_EXIT_OK;
	case OPT_VERSION:
		printf("erdns %s\n", ERDNS_VERSION);
		return ER_EXIT_OK;
	default:
		return cli_usage_error(M365_USAGE, "m365: unknown or incomplete option");
	}
}

static int parse_args(int argc, char **argv, struct diff_opts *o)
{
	static const struct option options[] = {
	    {"expressroute", required_argument, NULL, OPT_ER},
	    {"service-areas", required_argument, NULL, OPT_AREAS},
	    {"categories", required_argument, NULL, OPT_CATS},
	    {"required-only", no_argument, NULL, OPT_REQUIRED},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {NULL, 0, NULL, 0},
	};
	*o = (struct diff_opts){.filter = ER_M365_FILTER_DEFAULT};
	optind = 1;
	opterr = 0;
	int opt, rc;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		if ((rc = parse_option(opt, o)) >= 0)
			return rc;
	}
	if (optind >= argc || strcmp(argv[optind], "diff") != 0)
		return cli_usage_error(M365_USAGE, "m365: expected \"diff\" or \"audit\"");
	if (argc - optind != 3)
		return cli_usage_error(M365_USAGE, "m365 diff: expected OLD.json and NEW.json");
	o->old_path = argv[optind + 1];
	o->new_path = argv[optind + 2];
	return -1;
}

static const char *route_name(bool is_er)
{
	return is_er ? "expressroute" : "internet";
}

static const char *rule_text(const char *rule)
{
	return rule != NULL ? rule : "default";
}

/* Which of the three lists a change belongs to (a change may be in two). */
static bool is_added(const m365_change_t *c)
{
	return c->is_in_new && !c->is_in_old;
}
static bool is_removed(const m365_change_t *c)
{
	return c->is_in_old && !c->is_in_new;
}
static bool is_moved(const m365_change_t *c)
{
	return c->is_old_er != c->is_new_er;
}

/* One line per change: an added name with the route it gets, a removed one
 * with the route it had, a moved one with both and the deciding rules. */
static void print_change(const m365_change_t *c, bool (*pick)(const m365_change_t *))
{
	if (pick == is_moved)
		printf("  %-46s %s -> %s  (rule %s -> %s)\n", c->name, route_name(c->is_old_er),
		       route_name(c->is_new_er), rule_text(c->old_rule), rule_text(c->new_rule));
	else if (pick == is_added)
		printf("  %-46s %-12s (url %s)\n", c->name, route_name(c->is_new_er), c->url);
	else
		printf("  %-46s %-12s (url %s)\n", c->name, route_name(c->is_old_er), c->url);
}

static size_t print_section(const m365_change_t *v, size_t n, const char *title,
			    bool (*pick)(const m365_change_t *))
{
	size_t count = 0;
	for (size_t i = 0; i < n; i++)
		count += pick(&v[i]);
	if (count == 0)
		return 0;
	printf("%s (%zu):\n", title, count);
	for (size_t i = 0; i < n; i++) {
		if (pick(&v[i]))
			print_change(&v[i], pick);
	}
	return count;
}

static void print_human(const struct diff_opts *o, const m365_change_t *v, size_t n)
{
	printf("erdns m365 diff %s -> %s\n", o->old_path, o->new_path);
	if (n == 0) {
		printf("no change in routing\n");
		return;
	}
	size_t a = print_section(v, n, "added", is_added);
	size_t r = print_section(v, n, "removed", is_removed);
	size_t m = print_section(v, n, "moved between expressroute and internet", is_moved);
	printf("%zu added, %zu removed, %zu moved\n", a, r, m);
}

static cJSON *change_json(const m365_change_t *c)
{
	cJSON *o = cJSON_CreateObject();
	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "name", c->name);
	cJSON_AddStringToObject(o, "url", c->url);
	cJSON_AddStringToObject(o, "from", route_name(c->is_old_er));
	cJSON_AddStringToObject(o, "to", route_name(c->is_new_er));
	cJSON_AddStringToObject(o, "old_rule", rule_text(c->old_rule));
	cJSON_AddStringToObject(o, "new_rule", rule_text(c->new_rule));
	return o;
}

static int print_json(const m365_change_t *v, size_t n)
{
	static const char *const keys[] = {"added", "removed", "moved"};
	bool (*const picks[])(const m365_change_t *) = {is_added, is_removed, is_moved};
	cJSON *root = cJSON_CreateObject();
	for (size_t k = 0; root != NULL && k < 3; k++) {
		cJSON *arr = cJSON_AddArrayToObject(root, keys[k]);
		for (size_t i = 0; arr != NULL && i < n; i++) {
			if (picks[k](&v[i]))
				cJSON_AddItemToArray(arr, change_json(&v[i]));
		}
	}
	char *text = root != NULL ? cJSON_Print(root) : NULL;
	cJSON_Delete(root);
	if (text == NULL) {
		fprintf(stderr, "erdns: m365 diff: out of memory\n");
		return ER_EXIT_INVALID;
	}
	printf("%s\n", text);
	free(text);
	return ER_EXIT_OK;
}

static int run_diff(const struct diff_opts *o)
{
	char err[1024];
	m365_list_t *old = NULL, *new = NULL;
	m365_change_t *v = NULL;
	size_t n = 0;
	int rc = m365_list_load(o->old_path, &old, err, sizeof(err));
	if (rc == 0)
		rc = m365_list_load(o->new_path, &new, err, sizeof(err));
	if (rc == 0)
		rc = m365_diff(old, new, &o->filter, &v, &n, err, sizeof(err));
	int status = ER_EXIT_INVALID;
	if (rc != 0) {
		fprintf(stderr, "erdns: m365 diff: %s\n", err);
	} else if (o->is_json) {
		status = print_json(v, n);
	} else {
		print_human(o, v, n);
		status = ER_EXIT_OK;
	}
	if (status == ER_EXIT_OK && n > 0)
		status = ER_EXIT_CHANGED;
	m365_diff_free(v, n);
	m365_list_free(old);
	m365_list_free(new);
	return status;
}

int cmd_m365(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "audit") == 0)
		return cmd_m365_audit(argc - 1, argv + 1);
	struct diff_opts o;
	int rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	return run_diff(&o);
}
