/*
 * The per-process scratch directory of the file-driven fuzz targets. It is
 * made once and removed by an atexit handler with nftw, depth first, so the
 * files a target writes (and anything config_load is pointed at inside it)
 * go with it. libFuzzer exits through exit() after -max_total_time, so a
 * clean run leaves nothing; after a crash or a leak it leaves through
 * _Exit, and so does every child of -minimize_crash, each leaving its
 * directory behind. That is the price of not needing a wrapper process;
 * ctest points TMPDIR into the build tree for this reason.
 * stdin is pointed at /dev/null at the same time: a config may name any
 * file, and a made-up "/dev/stdin" must not block on a terminal.
 */
#include "fuzz_util.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define NFTW_FDS 16 /* the directory is at most three levels deep */

static char tmpdir[256];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void remove_tmpdir(void)
{
	if (tmpdir[0] != '\0')
		nftw(tmpdir, remove_one, NFTW_FDS, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_tmpdir(void)
{
	if (tmpdir[0] != '\0')
		return tmpdir;
	const char *base = getenv("TMPDIR");
	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	int n = snprintf(tmpdir, sizeof(tmpdir), "%s/erdns-fuzz-XXXXXX", base);
	if (n < 0 || (size_t)n >= sizeof(tmpdir) || mkdtemp(tmpdir) == NULL) {
		perror("erdns fuzz: mkdtemp");
		abort();
	}
	atexit(remove_tmpdir);
	if (freopen("/dev/null", "r", stdin) == NULL) {
		perror("erdns fuzz: /dev/null");
		abort();
	}
	return tmpdir;
}

void fuzz_path(char *out, size_t cap, const char *rel)
{
	int n = snprintf(out, cap, "%s/%s", fuzz_tmpdir(), rel);
	if (n < 0 || (size_t)n >= cap) {
		fprintf(stderr, "erdns fuzz: path too long: %s\n", rel);
		abort();
	}
}

void fuzz_write_file(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror(path);
		abort();
	}
	const char *p = data;
	while (size > 0) {
		ssize_t n = write(fd, p, size);
		if (n <= 0) {
			perror(path);
			abort();
		}
		p += n;
		size -= (size_t)n;
	}
	close(fd);
}
