/* replay.h - `quench replay`: feed a JSONL archive through the engine on a
 * virtual clock and write a deterministic report (DESIGN.md, contract).
 *
 * The library half (replay_new .. replay_report_json) reads no files and
 * prints nothing: tests and benches drive it with buffers. replay_main is
 * the command: it reads the files, prints problems as "FILE:LINE: what"
 * on stderr and returns the exit code (0 ok, 1 invalid input or failure,
 * 2 usage). */
#ifndef QUENCH_REPLAY_H
#define QUENCH_REPLAY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "qerr.h"
#include "rules.h"
#include "topology.h"

struct replay;   /* opaque */

/* New replay over T and R (borrowed, must outlive it). 0 or -1 OOM. */
int replay_new(struct replay **out, struct topology *t, const struct rules *r);
/* Free RP. RP may be NULL. */
void replay_free(struct replay *rp);
/* The engine, for reading incidents. Borrowed. */
struct engine *replay_engine(struct replay *rp);

/* Take one JSONL record LINE[0..len) (no newline): {"received_at": RFC 3339,
 * "payload": webhook}, other keys ignored. The clock moves to received_at
 * (closing what is due) before the payload is ingested. 0, or -1 with ERR
 * (msg only; the caller adds file and line) when the record is invalid. */
int replay_record(struct replay *rp, const char *line, size_t len,
                  struct qerr *err);
/* End of input: close every incident whose alerts have all resolved, at
 * last resolve + resolve_quiet, as live quench would with nothing more
 * arriving; incidents still firing stay open (closed_at null). */
void replay_finish(struct replay *rp);

/* Records and alerts taken so far. */
uint64_t replay_records(const struct replay *rp);
uint64_t replay_alerts(const struct replay *rp);

/* The report object (new reference, NULL on OOM): quench_version, input,
 * incidents sorted by opened_at then id. */
json_t *replay_report_json(struct replay *rp);
/* Dump flags that make the JSON report byte-stable. */
#define REPLAY_JSON_FLAGS (JSON_INDENT(2) | JSON_REAL_PRECISION(6))

/* The command line. */
int replay_main(int argc, char **argv);

#endif
