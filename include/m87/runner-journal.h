/* The report journal (runner-journal.c): the records the runner and the daemon queue on disk
 * for the server (docs/api.md, "Report record"), in STATE/reports/ of the runner's state
 * directory (runner.h).
 */
#ifndef M87_RUNNER_JOURNAL_H
#define M87_RUNNER_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/list.h"


#define RUNNER_JOURNAL_SEGMENT (1024u * 1024) /* a segment grows to about this size */
#define RUNNER_MAX_RECORD (64u * 1024)        /* the server refuses larger report records */

/* An append-only queue of report records (one JSON object a line) in segment files
 * DIR/SEQ.jsonl named by their first record's seq, and DIR/acked holding the highest seq
 * dropped. Sequence numbers increase across restarts; each append is fsync'ed. Several
 * processes and threads may open the same DIR: each call below holds DIR/lock (flock) and a
 * mutex, and first re-reads what another writer changed. */
struct runner_journal;

/* Open (creating DIR) and recover: a torn last line of a crash is cut off. */
struct runner_journal *runner_journal_open(const char *dir, struct m87_error **err);
void runner_journal_free(struct runner_journal *j);
static inline void runner_journal_freep(struct runner_journal **j)
{
    runner_journal_free(*j);
}

/* Append one record: writes "seq" (the next number, returned in *seq when not NULL) and "time"
 * before the fields that fill adds. */
typedef void (*runner_record_fn)(struct m87_jw *w, const void *ctx);
int runner_journal_append(struct runner_journal *j, runner_record_fn fill, const void *ctx,
                          int64_t *seq, struct m87_error **err);

/* Records with seq > after, oldest first, as their JSON text (out gets one item a record), at
 * most max_count records and max_bytes of text (at least one record when there is one).
 * *last gets the seq of the last one returned (after when none). */
int runner_journal_read(struct runner_journal *j, int64_t after, size_t max_count, size_t max_bytes,
                        struct m87_strv *out, int64_t *last, struct m87_error **err);

/* Forget every record with seq <= upto (the server acknowledged them). An upto past the last
 * record moves the numbering past it (the server kept the seqs of an earlier state directory:
 * new records must not look like duplicates). */
int runner_journal_drop(struct runner_journal *j, int64_t upto, struct m87_error **err);

/* The seq the next append gets, as this handle last saw it (another writer may have appended). */
int64_t runner_journal_next_seq(const struct runner_journal *j);

/* Start a new segment once the last one reached bytes (default and most RUNNER_JOURNAL_SEGMENT,
 * least RUNNER_MAX_RECORD): a journal with a small cap needs several segments for trimming to
 * work on. */
void runner_journal_set_segment_size(struct runner_journal *j, size_t bytes);

/* While the segments hold more than max_bytes, remove the log records (kind "log" with
 * "lines") of the oldest segments, the last segment excepted (its last record gives the next
 * seq to other writers). Other records and seqs stay. *dropped gets how many went, *over
 * whether the journal is still above max_bytes. */
int runner_journal_trim_logs(struct runner_journal *j, int64_t max_bytes, int64_t *dropped,
                             bool *over, struct m87_error **err);

/* How many records are not acknowledged yet (the queue's length). */
int runner_journal_pending(struct runner_journal *j, int64_t *count, struct m87_error **err);

/* The seq of a record line ("{"seq":N,...}"); -1 when the line is not a record. Pure. */
int64_t runner_record_seq(const char *line, size_t len);

#endif
