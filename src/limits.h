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
 * it MHD stops accepting: new connections wait in the kernel's listen
 * backlog until a slot frees (or the client gives up). */
#define QUENCH_MAX_CONNECTIONS 256
/* Idle seconds before MHD closes a connection (keep-alive included). */
#define QUENCH_CONNECTION_IDLE_S 10
/* A request body must complete within this many seconds, or the
 * connection is dropped: MHD's timeout is idle-only. */
#define QUENCH_BODY_DEADLINE_S 30
/* Seconds a deferred (suspended) request may wait for its owner before the
 * server answers 503 itself: MHD never times out a suspended connection,
 * so a lost owner callback would hold the slot forever. Well above
 * QUENCH_ARCHIVE_WRITE_TIMEOUT_MS, so only an owner bug reaches it. */
#define QUENCH_DEFERRED_DEADLINE_S 30
/* Bytes of an Authorization header; longer ones get 401 without being
 * decoded. Real tokens are well under 1 KiB. */
#define QUENCH_MAX_AUTH_HEADER 4096

/* ---- Metrics (metrics.c) --------------------------------------------- */

/* Label-value combinations (series) in one metric family. Labels come from
 * routes and status codes, so real use is a few dozen; the cap stops a bug
 * that labels by request data from growing the registry. Past it the
 * update is dropped and returns -1. */
#define QUENCH_MAX_METRIC_SERIES 1024
/* Buckets in one histogram, +Inf excluded. */
#define QUENCH_MAX_HISTOGRAM_BUCKETS 32

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
/* Bytes in any other webhook string: receiver, groupKey, externalURL,
 * generatorURL, notification_reason. generatorURL carries the rule's
 * URL-encoded PromQL (a few KiB at most); groupKey spells out every group_by
 * label. Each is interned for the pool's lifetime. Past it: 422. */
#define QUENCH_MAX_WEBHOOK_STRING (64u * 1024)

/* ---- JSON decoding (jdoc.c) ------------------------------------------- */

/* Nesting jdoc decodes itself; deeper documents are left to jansson (up to
 * its own 2048), whose tree is then copied. Above QUENCH_MAX_JSON_DEPTH so
 * that every body quench accepts, and most it rejects, stay on the fast
 * path; it also bounds jdoc's recursion. */
#define QUENCH_MAX_JDOC_DEPTH 64
/* Characters of a number token jdoc decodes itself (copied to a stack
 * buffer for strtoll/strtod). A longer one is valid only as a real with
 * many digits, or an integer past long long: left to jansson, which
 * decodes the first and rejects the second. */
#define QUENCH_MAX_JDOC_NUMBER 63
/* Bytes of arena, pending-value stack and duplicate-check table a struct
 * jdoc keeps between documents. One webhook of 10 alerts needs ~40 KiB;
 * after a rare 4 MiB body the rest goes back to malloc. While it is
 * decoded, a body costs up to ~32 bytes per value twice over (pending,
 * then placed): the worst 4 MiB body, an array of 2M zeros, peaks at
 * ~137 MB (jansson: ~88 MB); the same body ending in a number too long
 * for jdoc goes to jansson and its tree is copied into the jdoc, ~146 MB
 * at the peak (jdoc gives its own buffers back before jansson runs).
 * Bounded by QUENCH_MAX_WEBHOOK_BODY; ingest and the correlator each
 * decode one body at a time, so two such peaks at most. */
#define QUENCH_JDOC_KEEP_BYTES (1u * 1024 * 1024)
/* Slots the duplicate-key check probes past a member's home slot before
 * jdoc declines the document to jansson. Objects of more than 16 members
 * are rare in webhooks and with the table at most half full such a chain
 * is rare by chance; declining costs only jansson's speed. Names chosen to
 * collide (the hash is unseeded) would otherwise make the check
 * quadratic: 50,000 such names in a 650 KB body took 5 s, jansson 0.07 s. */
#define QUENCH_JDOC_MAX_PROBES 32

/* ---- Redis (redis_ev.c, archive.c) ------------------------------------ */

/* Archive entries the correlator may have taken but not yet persisted and
 * acknowledged while it coalesces writes during a burst (correlator.c);
 * past it, it writes before reading on. Bounds the re-read after a crash. */
#define QUENCH_MAX_DEFERRED_ACKS 5000
/* Alert records (hash fields, ~1-2 KB each) in one HSET of an incident
 * write (correlator.c): a storm's first write of a big incident, or a
 * rewrite, goes out as several commands of this size inside the one
 * MULTI, not as one command that grows with the incident. */
#define QUENCH_PERSIST_FIELDS_PER_CMD 512
/* Milliseconds of correlator work (encoding a round of writes) per turn
 * of the loop that also acknowledges webhooks: a round bigger than this
 * is sent in slices with the loop running in between, so a storm's writes
 * delay an acknowledgement by about this much, not by the whole round. */
#define QUENCH_LOOP_SLICE_MS 2
/* Alert records a round of incident writes waits for before it is sent
 * (correlator.c coalescing): Redis applies the round's MULTI/EXEC in one
 * go, at ~4-8 us per ~1.5 KB record, and every webhook's XADD queues
 * behind it. Measured at ~30% of peak ingest (docs/operations.md,
 * "Bursts"): ack p99 28-32 ms with 500, 13.8 ms with 100, 19 ms with 25
 * (more rounds, more overhead); without AOF 7.0, 4.75 and 4.8 ms. A round
 * can still hold more: what one batch of entries changed, or a whole
 * incident being rewritten. */
#define QUENCH_MAX_ROUND_ALERTS 100
/* Nice value of serve's correlator thread (relative to the process):
 * with both competing for a CPU, ingest (whose acknowledgements
 * Alertmanager waits on) gets about 10x the correlator's share; when the
 * CPU is idle the correlator runs at full speed. */
#define QUENCH_CORRELATOR_NICE 10
/* Milliseconds the ingest path waits for Redis to confirm an XADD before
 * answering 503 so Alertmanager retries. */
#define QUENCH_ARCHIVE_WRITE_TIMEOUT_MS 1000
/* Webhooks waiting on Redis at once. Past it: 503 (back-pressure). */
#define QUENCH_MAX_INFLIGHT_WRITES 4096
/* Window within which an identical body is acknowledged but stored once
 * (Alertmanager retries and HA peers). >= 2 x group_interval (5m). */
#define QUENCH_DEDUP_WINDOW_MS (15u * 60 * 1000)

/* ---- Configuration and logging (ytree.c, config.c, log.c) ------------ */

/* Bytes in one YAML file (quench.yaml, the rules files). The largest real
 * services.yaml we know of is well under 1 MiB; 8 MiB leaves room for
 * thousands of services. Past it: the file is rejected, not parsed. */
#define QUENCH_MAX_YAML_BYTES (8u * 1024 * 1024)
/* Nesting of maps and sequences in one YAML file. Our formats are at most
 * ~6 deep; the tree builder recurses once per level, so this bounds its
 * stack. Past it: the file is rejected at the offending node. */
#define QUENCH_MAX_YAML_DEPTH 64
/* Bytes in one secret file (token, password, signing secret). Real ones
 * are < 200 B; a larger file is almost surely the wrong file. Past it:
 * config error naming the file. */
#define QUENCH_MAX_SECRET_BYTES 4096

/* Bytes of one formatted log message before escaping. Longer messages are
 * cut (and marked) so one line is still one write(2) of bounded size. */
#define QUENCH_MAX_LOG_MSG 4096

/* ---- Correlation (topology.c, rules.c, correlate.c, replay.c) -------- */

/* Entities in the graph: declared services plus the pods, nodes and
 * unknown services met in alerts. 1M is ~100x a large cluster's pods and
 * bounds the id space (int32) and the per-entity arrays (~100 B each).
 * Past it: services.yaml is rejected; at run time the alert gets no
 * entity (it still joins by group labels). */
#define QUENCH_MAX_ENTITIES (1u << 20)
/* Edges in services.yaml (calls + uses). 1M is 10x the 100k-edge graph we
 * benchmark. Past it: the file is rejected. */
#define QUENCH_MAX_DECLARED_EDGES (1u << 20)
/* Entities one neighbourhood query returns when correlating an alert.
 * Hub services can have thousands of callers within 2 hops; past this the
 * farthest are not looked at (BFS stops), which bounds the cost of one
 * alert. */
#define QUENCH_MAX_NEIGHBOURS 4096
/* Label names in one entity_labels list or in scope. Real configs use 2-4. */
#define QUENCH_MAX_RULE_LABELS 16
/* alert_kinds entries in correlation.yaml; each costs a regexec per alert. */
#define QUENCH_MAX_ALERT_KINDS 256
/* exporters entries in correlation.yaml; each costs a regexec per alert
 * (on one label: real lists name 3-5 exporters). */
#define QUENCH_MAX_EXPORTERS 64
/* rule_for entries in correlation.yaml; a regexec each per new answer
 * (rules_memo keeps the answers per label values). */
#define QUENCH_MAX_RULE_FOR 256
/* Longest rule_for.for: kube-prometheus-stack's longest is 1h. */
#define QUENCH_MAX_RULE_FOR_MS (24 * 3600 * 1000LL)
/* A node named "host:port" (`instance`) is named "host" when host is
 * shorter than this (DNS names are at most 253); a longer one is kept. */
#define QUENCH_MAX_HOST_NAME 256
/* topology_hops: beyond ~4 every entity of a real graph is a neighbour. */
#define QUENCH_MAX_TOPOLOGY_HOPS 8
/* flap.count: the refire times kept per alert (8 B each). */
#define QUENCH_MAX_FLAP_COUNT 64
/* Active alerts (fingerprints) and incidents held in memory at once; at
 * ~1 KB per alert 2M is ~2 GB. Past it: the alert is refused with an error
 * (serve logs it and counts it; replay fails the record). */
#define QUENCH_MAX_ACTIVE_ALERTS (2u * 1024 * 1024)
#define QUENCH_MAX_INCIDENTS (1u * 1024 * 1024)
/* Bytes of correlate's dense index arrays: per scope, 8 B per entity id
 * (its entity-index and pod-index entries) up to the next power of two:
 * 0.5 MiB per scope on a 40k-entity graph, 8 MiB at QUENCH_MAX_ENTITIES.
 * 64 MiB covers ~128 scopes of a 40k graph. Past it: later scopes'
 * look-ups go to the hash tables (slower, same answers). */
#define QUENCH_MAX_INDEX_DENSE_BYTES (64u * 1024 * 1024)
/* One replay record (a JSONL line): a webhook body plus the envelope.
 * Past it: the record is reported invalid. */
#define QUENCH_MAX_REPLAY_LINE (QUENCH_MAX_WEBHOOK_BODY + 4096u)

/* ---- Ranking (rank.c) ------------------------------------------------- */

/* Alerts one incident's rank state holds (48 B each plus the alertname).
 * The ranking is meant for incidents of 10^2..10^3 alerts; 50,000 is a
 * storm no human reads, and bounds compute at ~20 ms. Past it: rank_update
 * returns -1 and the alert is left out of the ranking. */
#define QUENCH_MAX_RANK_ALERTS 50000
/* Bytes of one alertname the ranker keeps for evidence; longer names are
 * cut (they only appear in sentences). */
#define QUENCH_MAX_RANK_NAME 128
/* Causes reported per incident: people read three; playbooks use one. */
#define QUENCH_RANK_MAX_CAUSES 10
/* Evidence sentences per cause, most telling first. */
#define QUENCH_RANK_MAX_EVIDENCE 6
/* Entities on a cause's propagation path (cause first). Real call chains
 * are < 8 deep. */
#define QUENCH_RANK_MAX_PATH 8
/* Power iterations of the walk; it converges (L1 < 1e-6 per node) in
 * 20-40 on incident graphs, the cap only bounds the worst case. */
#define QUENCH_RANK_MAX_ITER 60

/* ---- History (history.c) ---------------------------------------------- */

/* Closed incidents the recurrence store remembers (a close time and an
 * offset, 16 B each). The default horizon is a day; even a noisy fleet
 * closes far fewer than 4,096 incidents a day. Past it the oldest incident
 * is forgotten, so recurrence then covers less than the horizon. */
#define QUENCH_HISTORY_MAX_INCIDENTS 4096
/* (entity, alertname) references over all remembered incidents (an
 * 8-byte close time each), and so the distinct pairs (~100 B each with
 * names: 64k pairs is ~7 MB). The shared cases hold ~40 pairs per incident. Past it the
 * oldest incidents are forgotten until the new one fits. */
#define QUENCH_HISTORY_MAX_REFS (64u * 1024)
/* Distinct pairs recorded for one incident. A storm beyond this is
 * refused by history_record (-1, nothing recorded) rather than flushing
 * the whole store for one incident. */
#define QUENCH_HISTORY_MAX_INCIDENT_PAIRS (8u * 1024)
/* history.min_incidents: a pair 16 recent incidents held is background
 * by any standard; a larger threshold is a typo. Past it: rules refused. */
#define QUENCH_HISTORY_MAX_MIN_INCIDENTS 16
/* Bytes of an entity name or alertname kept per pair; longer names are
 * cut (cut names still compare equal to themselves, so lookups agree). */
#define QUENCH_HISTORY_MAX_NAME 256

/* How long http_server_free (shutdown) keeps serving the 503s it gave the
 * webhooks still waiting for Redis before it closes every connection: an
 * answer, not a reset, so Alertmanager retries at once. */
#define QUENCH_HTTP_FLUSH_MS 1000

/* How long after alerts last named a pod rank still counts it among its
 * service's and node's pods (rank.c pod_live): pods get new names at
 * every rollout and the graph keeps the old ones. Measured in
 * docs/ranking.md ("Pods that are gone"): 10 min and 1 h equal, 6 h and
 * 24 h let the dead dilute the contrasts. topology.c bumps its version
 * when a sighting moves an entity's span by this much, so a cached
 * ranking that a revival could change is recomputed. */
#define QUENCH_RANK_LIVE_MS (3600LL * 1000)

/* Longest file path quench builds (Linux's PATH_MAX; <limits.h> would
 * find this file first). A longer path is an error, never cut. */
#define QUENCH_PATH_MAX 4096

#endif
