/* SPDX-License-Identifier: Apache-2.0 */
/* Inside the sink module: the sink's state, the interface its backends (sink_file.c,
 * sink_syslog.c) implement for the worker thread in sink.c, and the message formats. */
#ifndef VIGIL_SINK_INT_H
#define VIGIL_SINK_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "sink.h"
#include "spool.h"

typedef enum sink_kind {
	SINK_FILE = 0,
	SINK_STDOUT,
	SINK_UNIX,
	SINK_UDP,
	SINK_TCP,
	SINK_TLS,
} sink_kind;

/* A parsed target string (see vigil_sink_open). */
typedef struct sink_target {
	sink_kind kind;
	char host[256];  /* udp, tcp, tls: a name or an address, without brackets */
	char port[6];    /* udp, tcp, tls: decimal 1..65535 */
	char path[4096]; /* file, unix */
} sink_target;

/* Parses target; returns 0 or VIGIL_E_INVALID with a sentence in err. */
int vigil_sink_parse_target(const char *target, sink_target *t, char *err, size_t cap);

/* The fixed fields of every syslog message this sink writes. */
typedef struct sink_ident {
	int facility;
	char hostname[256]; /* RFC 5424 HOSTNAME */
	char app_name[49];  /* APP-NAME */
	char procid[24];    /* PROCID: our pid */
} sink_ident;

/* RFC 5424 section 6: "<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG". Returns the
 * length written to out (not NUL-terminated), or 0 if cap is too small. */
size_t vigil_syslog_format_5424(char *out, size_t cap, const sink_ident *id,
				const vigil_spool_rec *r);
/* What syslog(3) writes to /dev/log: "<PRI>Mmm dd hh:mm:ss APP-NAME[PID]: MSG", local
 * time. Returns the length, or 0 if cap is too small. */
size_t vigil_syslog_format_local(char *out, size_t cap, const sink_ident *id,
				 const vigil_spool_rec *r);
/* Writes "2024-05-01T12:00:00.123456Z" (28 bytes with the NUL) for t microseconds. */
void vigil_sink_rfc3339(char out[32], int64_t t_us);

/* Records of one write: framed bytes back to back, and where each record came from. */
#define SINK_BATCH_RECS  256
#define SINK_BATCH_BYTES (64 * 1024)

typedef struct sink_batch {
	uint8_t *buf; /* SINK_BATCH_BYTES plus one largest framed record */
	size_t cap;
	size_t len;
	size_t n;
	bool from_spool;
	size_t end[SINK_BATCH_RECS];           /* end of record i in buf */
	uint64_t qseq[SINK_BATCH_RECS];        /* memory queue: its sequence number */
	vigil_spool_pos spos[SINK_BATCH_RECS]; /* spool: the place after it */
} sink_batch;

/* What the worker calls; each returns 0 or a VIGIL_E_* code after writing a sentence into
 * s->conn_err. Only the worker thread calls them, without s->mu held. */
typedef struct sink_backend {
	const char *name;
	bool datagram;  /* one send per record: a failure says exactly which records went out */
	bool tcp_acked; /* the peer's TCP acknowledgements are known (tcp, tls) */
	int (*connect)(vigil_sink *s);
	/* Frames r for this transport into out; returns the length or 0 if it does not fit. */
	size_t (*frame)(const vigil_sink *s, const vigil_spool_rec *r, uint8_t *out, size_t cap);
	/* Writes the batch; *done = records certainly handed over (all, for a stream, or 0). */
	int (*write)(vigil_sink *s, const sink_batch *b, size_t *done);
	/* tcp_acked: bytes of this connection the peer acknowledged. */
	int (*acked)(vigil_sink *s, uint64_t *bytes);
	/* The connection's fd polled for input while idle, or -1. */
	int (*idle_fd)(const vigil_sink *s);
	/* idle_fd was readable: 0 if the connection still works, else it is broken. */
	int (*check)(vigil_sink *s);
	/* A file: makes everything written so far durable (fdatasync). Batches are written
	 * at once (readers see them) and synced in groups; a batch is confirmed only after
	 * the sync that covers it. NULL: confirmed when written (or acked). */
	int (*sync)(vigil_sink *s);
	/* Orderly close: true if the peer read everything (it closed after our end). */
	bool (*finish)(vigil_sink *s, int timeout_ms);
	void (*disconnect)(vigil_sink *s);
} sink_backend;

extern const sink_backend vigil_sink_file_backend;
extern const sink_backend vigil_sink_unix_backend;
extern const sink_backend vigil_sink_udp_backend;
extern const sink_backend vigil_sink_tcp_backend;
extern const sink_backend vigil_sink_tls_backend;

/* An alert in the memory queue. */
typedef struct sink_rec {
	struct sink_rec *next;
	uint64_t seq;
	int64_t time_us;
	int severity;
	size_t kind_len;
	char kind[VIGIL_SINK_KIND_MAX];
	size_t len;
	char json[]; /* len bytes */
} sink_rec;

/* Written records not yet confirmed: one per batch. */
typedef struct sink_mark {
	bool from_spool;
	uint64_t qseq;        /* memory queue: the last record's sequence number */
	vigil_spool_pos spos; /* spool: the place after the last record */
	uint64_t nrec;
	uint64_t end_bytes; /* the connection's byte count after the batch */
	int64_t acked_ms;   /* when the peer's TCP acknowledged it all (a file: when it was
			     * synced); 0: not yet */
	int64_t written_ms; /* when it was written (a file waiting for its sync) */
} sink_mark;

#define SINK_MARKS 1024

struct vigil_sink {
	/* Fixed at open. */
	sink_target target;
	char *name; /* the target string, for messages */
	const sink_backend *be;
	vigil_sink_options opt; /* strings point into the copies below */
	char *ca_file, *cert_file, *key_file, *spool_dir;
	sink_ident id;
	SSL_CTX *tls;

	/* The connection: only the worker touches these. */
	int fd;
	SSL *ssl;
	uint64_t wbytes; /* bytes handed to the kernel on this connection */
	bool is_regular; /* file: a regular file (fdatasync, rotation check) */
	dev_t dev;       /* file: what path named when opened */
	ino_t ino;
	char conn_err[224];
	sink_batch batch;

	/* Shared with the callers: under mu. */
	pthread_mutex_t mu;
	pthread_cond_t progress; /* confirmations, spills and syncs: flush waits on it */
	sink_rec *q_head, *q_tail;
	sink_rec *q_unsent; /* first record not written on this connection, or NULL */
	uint64_t q_count;
	uint64_t q_next_seq;
	uint64_t q_safe_seq; /* every queued record up to this one is acknowledged or spooled */
	vigil_spool *spool;
	uint64_t spool_appended; /* appends so far */
	uint64_t spool_synced;   /* appends known to be on disk */
	bool spool_sync_wanted;
	int64_t spool_dirty_ms; /* when an unsynced append was made; 0: none */
	sink_mark marks[SINK_MARKS];
	size_t mark_head, nmarks;
	bool connected;
	bool ever_connected;
	bool delivered_on_conn; /* something was confirmed on this connection */
	bool idle;              /* the worker sleeps in poll: wake it through wakefd */
	bool spill_failed;      /* do not retry before the next connection attempt */
	bool stopping;
	int64_t next_attempt_ms;
	unsigned backoff_ms;
	vigil_sink_stats st;
	uint64_t drop_count; /* dropped since the last notice */
	int64_t drop_first_us, drop_last_us;
	char drop_reason[96];
	char why[96]; /* the reason of the last failed spool append */

	atomic_llong stop_deadline_ms; /* 0 while running */
	int wakefd;                    /* eventfd */
	pthread_t thread;
	bool thread_started;
};

/* Monotonic milliseconds. */
int64_t vigil_sink_now_ms(void);

/* Waits up to timeout_ms for events on fd; gives up early when the sink is closing and its
 * deadline passed. Returns >0 ready, 0 timed out, -1 (errno). */
int vigil_sink_wait_fd(vigil_sink *s, int fd, short events, int timeout_ms);

/* Sets s->conn_err from a format and returns rc. */
int vigil_sink_conn_fail(vigil_sink *s, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
