/* log.h - leveled, structured logging: one JSON object per line on stderr.
 * Arguments are not evaluated below the current level. Never pass a secret
 * (token, password, signing secret, Authorization header) as an argument.
 * Only edges and main.c log; the core returns errors instead. */
#ifndef QUENCH_LOG_H
#define QUENCH_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

extern enum log_level log_current_level;

/* Parse "debug" | "info" | "warn" | "error" | "off"; -1 if unknown. */
int log_level_parse(const char *s, enum log_level *out);
void log_set_level(enum log_level l);

/* Write {"ts":"<RFC 3339 ms>","level":"...","msg":"<formatted>"} with the
 * message JSON-escaped. Use the macros below. */
void log_write(enum log_level l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_at(l, ...) \
    do { if ((l) >= log_current_level) log_write((l), __VA_ARGS__); } while (0)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_at(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)

#endif
