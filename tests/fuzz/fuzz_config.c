/*
 * libFuzzer target for the configuration loader: the input is written as
 * erdns.json in a per-process directory and loaded with config_load, which
 * drives the JSON position tracker, the schema walker, the router build and
 * every file a config can name. A loaded snapshot is printed (the summary of
 * `erdns check`, to /dev/null) and released with config_unref.
 *
 * Next to the input sit small valid files at the relative paths the seeds
 * use (zones/ok.zone, ../resolv.conf/branch.conf, m365.json), so mutated
 * configs keep reaching the zone, resolv.conf and M365 loaders instead of
 * stopping at "cannot read". Those files are written once and never change,
 * so every run of an input sees the same inputs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "config/config.h"
#include "fuzz_util.h"

#define PATH_MAX_LEN 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char ZONE[] = "$ORIGIN branch.contoso.com.\n"
			   "$TTL 3600\n"
			   "@ IN SOA ns1 hostmaster 2024010101 3600 600 86400 300\n"
			   "@ IN NS ns1\n"
			   "ns1 IN A 10.1.0.53\n"
			   "*.dyn 60 IN A 10.1.9.9\n";
static const char RESOLV[] = "nameserver 198.51.100.53\n"
			     "nameserver 198.51.100.54\n";
static const char M365[] =
    "[ { \"id\": 1, \"serviceArea\": \"Exchange\", \"urls\": [\"outlook.example.com\","
    " \"*.outlook.example.com\"], \"expressRoute\": true, \"category\": \"Optimize\","
    " \"required\": true },\n"
    "  { \"id\": 8, \"serviceArea\": \"Common\", \"urls\": [\"*.example.com\","
    " \"autodiscover.*.onexample.com\"], \"expressRoute\": false, \"category\": \"Default\","
    " \"required\": false } ]\n";

static struct {
	char input[PATH_MAX_LEN];
	FILE *devnull;
} g;

static void put(const char *rel, const char *text, size_t len)
{
	char path[PATH_MAX_LEN];
	fuzz_path(path, sizeof(path), rel);
	fuzz_write_file(path, text, len);
}

static void mkdir_in_tmp(const char *rel)
{
	char path[PATH_MAX_LEN];
	fuzz_path(path, sizeof(path), rel);
	if (mkdir(path, 0700) != 0) {
		perror(path);
		abort();
	}
}

static void setup(void)
{
	mkdir_in_tmp("conf");
	mkdir_in_tmp("conf/zones");
	mkdir_in_tmp("resolv.conf");
	put("conf/zones/ok.zone", ZONE, sizeof(ZONE) - 1);
	put("resolv.conf/branch.conf", RESOLV, sizeof(RESOLV) - 1);
	put("conf/m365.json", M365, sizeof(M365) - 1);
	fuzz_path(g.input, sizeof(g.input), "conf/erdns.json");
	g.devnull = fopen("/dev/null", "w");
	if (g.devnull == NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (g.devnull == NULL)
		setup();
	fuzz_write_file(g.input, data, size);
	char err[ER_CONFIG_ERR_MAX];
	config_t *c = config_load(g.input, err, sizeof(err));
	if (c != NULL) {
		config_print_summary(c, g.devnull);
		config_unref(c);
	}
	return 0;
}
