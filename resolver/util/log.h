/*
 * One line per event on stderr, systemd-style (no timestamps: journald adds
 * them). Thread-safe: each line is formatted into a stack buffer and written
 * with one write(2), so lines from workers never interleave.
 */
#ifndef ERDNS_UTIL_LOG_H
#define ERDNS_UTIL_LOG_H

typedef enum { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG } log_level_t;

/* Lines above this level are discarded. Default LOG_LEVEL_INFO. */
void log_set_level(log_level_t level);
/* Parses "error", "warn", "info", "debug"; returns 0 or -EINVAL. */
int log_level_parse(const char *text, log_level_t *out);
void log_msg(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
