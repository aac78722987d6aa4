/* limits.h - every cap on input and work, in one place, each with what it
 * bounds, why this value, and what happens past it. Past a cap is an error
 * (413, 422, a rejected file), never another realloc. Modules add their
 * caps here, in their own section. */
#ifndef QUENCH_LIMITS_H
#define QUENCH_LIMITS_H

/* ---- HTTP (http.c) ---------------------------------------------------- */

/* Webhook body. Alertmanager alerts are ~830 B each, so 4 MiB holds ~5,000
 * alerts, far beyond any sane max_alerts. Past it: 413, body not read. */
#define QUENCH_MAX_WEBHOOK_BODY (4u * 1024 * 1024)
/* JSON API request bodies (approvals). Past it: 413. */
#define QUENCH_MAX_API_BODY (64u * 1024)
/* Slack interaction payloads; Slack's own messages are far smaller. */
#define QUENCH_MAX_SLACK_BODY (256u * 1024)
/* Per-connection memory for MHD: bounds the header block (MHD answers 431
 * past it). 32 KiB fits every real client's headers. */
#define QUENCH_MAX_CONNECTION_MEMORY (32u * 1024)
/* Concurrent connections; Alertmanager HA pairs open a handful each. Past
 * it MHD refuses the accept. */
#define QUENCH_MAX_CONNECTIONS 256
/* Idle seconds before MHD closes a connection (keep-alive included). */
#define QUENCH_CONNECTION_IDLE_S 10
/* A request body must complete within this many seconds, or the
 * connection is dropped: MHD's timeout is idle-only. */
#define QUENCH_BODY_DEADLINE_S 30

/* ---- Webhook parsing (webhook.c, alert.c) ----------------------------- */

/* Alerts in one webhook: 4 MiB / ~830 B. Past it: 422. */
#define QUENCH_MAX_ALERTS_PER_WEBHOOK 5000
/* Labels or annotations on one alert. Prometheus has no cap; 64 is ~4x the
 * largest real label set we have seen. Past it: 422. */
#define QUENCH_MAX_LABELS 64
/* Bytes in one label name. Past it: 422. */
#define QUENCH_MAX_LABEL_NAME 256
/* Bytes in one label or annotation value (annotations carry runbooks and
 * descriptions). Past it: 422. */
#define QUENCH_MAX_LABEL_VALUE (16u * 1024)
/* JSON nesting accepted by the decoder. A webhook is 3 deep. */
#define QUENCH_MAX_JSON_DEPTH 32

/* ---- Redis (redis_ev.c, archive.c) ------------------------------------ */

/* Milliseconds the ingest path waits for Redis to confirm an XADD before
 * answering 503 so Alertmanager retries. */
#define QUENCH_ARCHIVE_WRITE_TIMEOUT_MS 1000
/* Webhooks waiting on Redis at once. Past it: 503 (back-pressure). */
#define QUENCH_MAX_INFLIGHT_WRITES 4096
/* Window within which an identical body is acknowledged but stored once
 * (Alertmanager retries and HA peers). >= 2 x group_interval (5m). */
#define QUENCH_DEDUP_WINDOW_MS (15u * 60 * 1000)

#endif
