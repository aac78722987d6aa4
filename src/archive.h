/* archive.h - durable ingest: every accepted webhook body goes, byte for
 * byte, into the Redis stream quench:archive (DESIGN.md, Redis keys), once
 * per dedup window, through one script that checks and sets the dedup key
 * in the same step as the XADD (PROTOCOLS.md section 1.6). Also trimming
 * by age, and export of the stream as the replay JSONL format. */
#ifndef QUENCH_ARCHIVE_H
#define QUENCH_ARCHIVE_H

#include <stdint.h>
#include <stdio.h>

#include "qerr.h"
#include "redis_ev.h"

#define ARCHIVE_STREAM "quench:archive"
#define ARCHIVE_DEDUP_PREFIX "quench:dedup:"

struct archive;   /* opaque */

/* Zero fields take the default shown. */
struct archive_options {
    int64_t retention_ms;       /* 14 d: entries older are trimmed */
    int64_t dedup_window_ms;    /* QUENCH_DEDUP_WINDOW_MS */
    unsigned write_timeout_ms;  /* QUENCH_ARCHIVE_WRITE_TIMEOUT_MS */
    unsigned max_inflight;      /* QUENCH_MAX_INFLIGHT_WRITES */
};

/* How a write ended. Only STORED and DUPLICATE may be acknowledged. */
enum archive_outcome {
    ARCHIVE_STORED = 0,         /* appended now */
    ARCHIVE_DUPLICATE,          /* same body stored within the window */
    ARCHIVE_FAILED,             /* Redis answered with an error: not stored */
    ARCHIVE_UNKNOWN,            /* timeout or disconnect: maybe stored */
};

/* Synchronous refusals of archive_write (the callback is not called). */
#define ARCHIVE_EBUSY (-1)      /* max_inflight writes already waiting */
#define ARCHIVE_EDOWN (-2)      /* Redis not connected (or OOM) */

/* ID is the stream entry id (borrowed for the call; "" unless STORED or
 * DUPLICATE). SECONDS from archive_write to the answer. */
typedef void (*archive_done_fn)(enum archive_outcome o, const char *id,
                                double seconds, void *ud);

/* New archive writing through R (borrowed; must outlive the archive's
 * in-flight writes). Registers its script with R, so call before
 * redis_ev_start. 0, or -1 with ERR. */
int archive_new(struct archive **out, struct redis_ev *r,
                const struct archive_options *o, struct qerr *err);

/* Store BODY[0..len) (copied) received at NOW_MS (ms since the epoch).
 * 0: FN is called exactly once, later, from the loop; ARCHIVE_EBUSY or
 * ARCHIVE_EDOWN: FN is never called. */
int archive_write(struct archive *a, const char *body, size_t len,
                  int64_t now_ms, archive_done_fn fn, void *ud);

/* Writes waiting for Redis now. */
unsigned archive_inflight(const struct archive *a);

/* Trim entries older than the retention (XTRIM MINID ~), fire and forget;
 * XADD trims too, this catches an idle stream. 0, or -1 if not sent. */
int archive_trim(struct archive *a, int64_t now_ms);

/* Free A. Writes still in flight keep their callback; A's memory goes with
 * the last of them. A may be NULL. */
void archive_free(struct archive *a);

/* ---- export (synchronous, for the CLI) -------------------------------- */

struct archive_export_stats {
    unsigned long records;      /* lines written */
    unsigned long skipped;      /* entries without a valid body/received_at */
};

/* Write the entries received in [SINCE_MS, UNTIL_MS) (INT64_MIN / INT64_MAX
 * for no bound) to OUT as replay JSONL, oldest first:
 *   {"received_at":"<RFC 3339>","payload":<stored body>}
 * The payload is the stored bytes, not re-serialised: trailing whitespace
 * (Alertmanager's final newline) is dropped, and a line break inside the
 * body (only possible as JSON whitespace) becomes a space so a record
 * stays one line. Connects with CONN using blocking hiredis, reads with
 * XRANGE in pages. 0, or -1 with ERR (connect, Redis error, write error). */
int archive_export(FILE *out, const struct redis_ev_options *conn,
                   int64_t since_ms, int64_t until_ms,
                   struct archive_export_stats *stats, struct qerr *err);

#endif
