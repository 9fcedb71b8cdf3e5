/*
 * Logging: formatted into a fixed buffer and emitted with a single write(2)
 * so concurrent workers never interleave partial lines. A line longer than the
 * buffer is cut; log lines are meant to be one screen line anyway.
 */
#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static atomic_int current_level = LOG_LEVEL_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_set_level(log_level_t level)
{
	atomic_store(&current_level, (int)level);
}

int log_level_parse(const char *text, log_level_t *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(text, level_names[i]) == 0) {
			*out = (log_level_t)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_msg(log_level_t level, const char *fmt, ...)
{
	if ((int)level > atomic_load(&current_level))
		return;
	char line[1024];
	int prefix = snprintf(line, sizeof(line), "erdns[%s]: ", level_names[level]);
	va_list ap;
	va_start(ap, fmt);
	int body = vsnprintf(line + prefix, sizeof(line) - (size_t)prefix - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)prefix + (body < 0 ? 0 : (size_t)body);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	ssize_t ignored = write(STDERR_FILENO, line, len);
	(void)ignored;
}
