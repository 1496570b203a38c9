/* SPDX-License-Identifier: Apache-2.0 */
/* Syslog backends of the sink: RFC 5424 messages over UDP (RFC 5426), TCP with octet
 * counting (RFC 6587 section 3.4.1) and TLS (RFC 5425), and the syslog(3) format on the
 * local datagram socket. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "sink_int.h"

/* ---- formats ---- */

void vigil_sink_rfc3339(char out[32], int64_t t_us)
{
	int64_t sec = t_us / 1000000, us = t_us % 1000000;
	time_t tt;
	struct tm tm;

	if (us < 0) {
		us += 1000000;
		sec--;
	}
	tt = (time_t)sec;
	/* RFC 5424 section 6.2.3 wants a four-digit year; a time beyond that (only a damaged
	 * clock gives one) is sent as the NILVALUE. */
	if (gmtime_r(&tt, &tm) == NULL || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
		strcpy(out, "-");
		return;
	}
	/* The moduli only tell the compiler the widths; the values are in range. */
	snprintf(out, 32, "%04u-%02u-%02uT%02u:%02u:%02u.%06uZ",
		 (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
		 (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u,
		 (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u, (unsigned)us % 1000000u);
}

size_t vigil_syslog_format_5424(char *out, size_t cap, const sink_ident *id,
				const vigil_spool_rec *r)
{
	char ts[32];
	int n;

	vigil_sink_rfc3339(ts, r->time_us);
	/* No STRUCTURED-DATA; MSG without a BOM (sink.h says why). */
	n = snprintf(out, cap, "<%d>1 %s %s %s %s %.*s - ", id->facility * 8 + r->severity, ts,
		     id->hostname, id->app_name, id->procid, r->kind_len ? (int)r->kind_len : 1,
		     r->kind_len ? r->kind : "-");
	if (n < 0 || (size_t)n >= cap || cap - (size_t)n < r->len)
		return 0;
	memcpy(out + n, r->json, r->len);
	return (size_t)n + r->len;
}

size_t vigil_syslog_format_local(char *out, size_t cap, const sink_ident *id,
				 const vigil_spool_rec *r)
{
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)(r->time_us / 1000000);
	struct tm tm;
	int n;

	/* The month by name without strftime: the daemon's locale must not change it. */
	if (localtime_r(&tt, &tm) == NULL || tm.tm_mon < 0 || tm.tm_mon > 11)
		memset(&tm, 0, sizeof(tm));
	n = snprintf(out, cap, "<%d>%s %2d %02d:%02d:%02d %s[%s]: ", id->facility * 8 + r->severity,
		     months[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, id->app_name,
		     id->procid);
	if (n < 0 || (size_t)n >= cap || cap - (size_t)n < r->len)
		return 0;
	memcpy(out + n, r->json, r->len);
	return (size_t)n + r->len;
}

static size_t frame_5424(const vigil_sink *s, const vigil_spool_rec *r, uint8_t *out, size_t cap)
{
	return vigil_syslog_format_5424((char *)out, cap, &s->id, r);
}

static size_t frame_local(const vigil_sink *s, const vigil_spool_rec *r, uint8_t *out, size_t cap)
{
	return vigil_syslog_format_local((char *)out, cap, &s->id, r);
}

/* RFC 6587 section 3.4.1 octet counting, "MSG-LEN SP SYSLOG-MSG": a message may hold any
 * byte, and the receiver needs no delimiter. */
static size_t frame_counted(const vigil_sink *s, const vigil_spool_rec *r, uint8_t *out, size_t cap)
{
	char pfx[24];
	size_t n;
	int p;

	if (cap < 16)
		return 0;
	if ((n = vigil_syslog_format_5424((char *)out + 16, cap - 16, &s->id, r)) == 0)
		return 0;
	p = snprintf(pfx, sizeof(pfx), "%zu ", n);
	memmove(out + p, out + 16, n);
	memcpy(out, pfx, (size_t)p);
	return (size_t)p + n;
}

/* ---- sockets ---- */

static void disconnect_sock(vigil_sink *s)
{
	if (s->ssl != NULL) {
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->wbytes = 0;
}

static void tune_tcp(const vigil_sink *s, int fd)
{
	int one = 1, idle = 60, intvl = 10, cnt = 3;
	unsigned int uto = s->opt.io_timeout_ms;

	/* Alerts are few and urgent: no Nagle delay. Keepalives and TCP_USER_TIMEOUT turn a
	 * peer that vanished (no FIN, no RST) into an error, so its unacknowledged alerts
	 * are resent elsewhere in time rather than after the default 15 minutes. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto, sizeof(uto));
}

static void addr_text(const struct sockaddr *a, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)a;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(out, cap, "%s:%d", host, port);
	} else if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)a;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(out, cap, "[%s]:%d", host, port);
	} else {
		snprintf(out, cap, "?");
	}
}

/* Connects a non-blocking socket to the first address of host:port that answers. DNS is
 * resolved here, in the worker, so a slow resolver delays only this sink. */
static int net_connect(vigil_sink *s, int type)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = type}, *res = NULL;
	int gai, rc = VIGIL_E_SYSTEM;

	if ((gai = getaddrinfo(s->target.host, s->target.port, &hints, &res)) != 0)
		return vigil_sink_conn_fail(s, VIGIL_E_NOT_FOUND, "cannot resolve %s: %s",
					    s->target.host, gai_strerror(gai));
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		char where[INET6_ADDRSTRLEN + 16];
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				ai->ai_protocol);
		int e = 0;
		socklen_t el = sizeof(e);

		addr_text(ai->ai_addr, where, sizeof(where));
		if (fd < 0) {
			rc = vigil_sink_conn_fail(s, VIGIL_E_SYSTEM, "socket: %s", strerror(errno));
			continue;
		}
		if (type == SOCK_STREAM)
			tune_tcp(s, fd);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			if (errno != EINPROGRESS) {
				e = errno;
			} else {
				int w = vigil_sink_wait_fd(s, fd, POLLOUT,
							   (int)s->opt.connect_timeout_ms);

				if (w <= 0)
					e = w == 0 ? ETIMEDOUT : errno;
				else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
					e = errno;
			}
		}
		if (e != 0) {
			errno = e;
			rc = vigil_sink_conn_fail(s, VIGIL_E_SYSTEM, "cannot connect to %s: %s",
						  where, strerror(e));
			close(fd);
			continue;
		}
		s->fd = fd;
		s->wbytes = 0;
		rc = 0;
		break;
	}
	freeaddrinfo(res);
	return rc;
}

static int stream_write(vigil_sink *s, const uint8_t *p, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t w = send(s->fd, p + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		int r;

		if (w > 0) {
			off += (size_t)w;
			s->wbytes += (uint64_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((r = vigil_sink_wait_fd(s, s->fd, POLLOUT, (int)s->opt.io_timeout_ms)) >
			    0)
				continue;
			if (r == 0)
				return vigil_sink_conn_fail(s, VIGIL_E_SYSTEM,
							    "no progress writing for %u ms",
							    s->opt.io_timeout_ms);
		}
		return vigil_sink_conn_fail(s, VIGIL_E_SYSTEM, "write: %s", strerror(errno));
	}
	return 0;
}

/* Datagrams, one per record; *done counts those the kernel took. */
static int dgram_write(vigil_sink *s, const sink_batch *b, size_t *done)
{
	*done = 0;
	for (size_t i = 0; i < b->n; i++) {
		size_t start = i ? b->end[i - 1] : 0, len = b->end[i] - start;

		for (;;) {
			ssize_t w = send(s->fd, b->buf + start, len, MSG_NOSIGNAL | MSG_DONTWAIT);
			int r;

			if (w == (ssize_t)len)
				break;
			if (w < 0 && errno == EINTR)
				continue;
			/* A full receiver (unix) or a full device queue: wait, nothing is lost. */
			if (w < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
				r = vigil_sink_wait_fd(s, s->fd, POLLOUT,
						       (int)s->opt.io_timeout_ms);
				if (r > 0) {
					if (errno == ENOBUFS)
						usleep(1000);
					continue;
				}
				if (r == 0)
					return vigil_sink_conn_fail(s, VIGIL_E_SYSTEM,
								    "no progress sending for %u ms",
								    s->opt.io_timeout_ms);
			}
			if (w >= 0)
				errno = EMSGSIZE;
			return vigil_sink_conn_fail(s, VIGIL_E_SYSTEM, "send: %s", strerror(errno));
		}
		*done = i + 1;
	}
	return 0;
}

/* ---- unix ---- */

static int unix_connect(vigil_sink *s)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return vigil_sink_conn_fail(s, VIGIL_E_SYSTEM, "socket: %s", strerror(errno));
	memcpy(a.sun_path, s->target.path, strlen(s->target.path) + 1);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return vigil_sink_conn_fail(s, VIGIL_E_SYSTEM, "cannot connect to %s: %s",
					    s->target.path, strerror(e));
	}
	s->fd = fd;
	return 0;
}

const sink_backend vigil_sink_unix_backend = {
    .name = "unix",
    .datagram = true,
    .connect = unix_connect,
    .frame = frame_local,
    .write = dgram_write,
    .disconnect = disconnect_sock,
};

/* ---- udp ---- */

static int udp_connect(vigil_sink *s)
{
	/* Connected, so that an ICMP port unreachable shows as ECONNREFUSED on a later send:
	 * the datagram it was about is lost (RFC 5426 has no more), but we reconnect. */
	return net_connect(s, SOCK_DGRAM);
}

const sink_backend vigil_sink_udp_backend = {
    .name = "udp",
    .datagram = true,
    .connect = udp_connect,
    .frame = frame_5424,
    .write = dgram_write,
    .disconnect = disconnect_sock,
};

/* ---- tcp ---- */

static int tcp_connect(vigil_sink *s)
{
	return net_connect(s, SOCK_STREAM);
}

static int tcp_write(vigil_sink *s, const sink_batch *b, size_t *done)
{
	int rc = stream_write(s, b->buf, b->len);

	*done = rc == 0 ? b->n : 0;
	return rc;
}

/* tcp(7) SIOCOUTQ: bytes in the send queue not yet acknowledged by the peer. */
static int outq(vigil_sink *s, uint64_t *unacked)
{
	int v = 0;

	if (ioctl(s->fd, SIOCOUTQ, &v) != 0 || v < 0)
		return VIGIL_E_SYSTEM;
	*unacked = (uint64_t)v;
	return 0;
}

static int tcp_acked(vigil_sink *s, uint64_t *bytes)
{
	uint64_t q;
	int rc = outq(s, &q);

	if (rc == 0)
		*bytes = s->wbytes > q ? s->wbytes - q : 0;
	return rc;
}

static int sock_idle_fd(const vigil_sink *s)
{
	return s->fd;
}

static int tcp_check(vigil_sink *s)
{
	char buf[512];

	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0)
			continue; /* not syslog's to send; ignore */
		if (n == 0)
			return vigil_sink_conn_fail(s, VIGIL_E_SYSTEM,
						    "connection closed by the peer");
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		return vigil_sink_conn_fail(s, VIGIL_E_SYSTEM, "connection lost: %s",
					    strerror(errno));
	}
	return 0;
}

/* Half-closes and waits for the peer's end of stream: it reads until our FIN and only
 * then closes, so an orderly end (not a reset) means it read every byte. */
static bool tcp_finish(vigil_sink *s, int timeout_ms)
{
	int64_t end = vigil_sink_now_ms() + timeout_ms;
	char buf[512];

	if (shutdown(s->fd, SHUT_WR) != 0)
		return false;
	for (;;) {
		int64_t left = end - vigil_sink_now_ms();
		ssize_t n;

		if (left <= 0 || vigil_sink_wait_fd(s, s->fd, POLLIN, (int)left) <= 0)
			return false;
		n = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0)
			return true;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return false;
	}
}

const sink_backend vigil_sink_tcp_backend = {
    .name = "tcp",
    .tcp_acked = true,
    .connect = tcp_connect,
    .frame = frame_counted,
    .write = tcp_write,
    .acked = tcp_acked,
    .idle_fd = sock_idle_fd,
    .check = tcp_check,
    .finish = tcp_finish,
    .disconnect = disconnect_sock,
};

/* ---- tls ---- */

static int tls_fail(vigil_sink *s, const char *what, int ret)
{
	int e = s->ssl ? SSL_get_error(s->ssl, ret) : SSL_ERROR_SSL;
	unsigned long code = ERR_peek_error();
	char buf[160];

	if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && code == 0 && errno == 0))
		return vigil_sink_conn_fail(s, VIGIL_E_SYSTEM, "%s: connection closed by the peer",
					    what);
	if (e == SSL_ERROR_SYSCALL && code == 0)
		return vigil_sink_conn_fail(s, VIGIL_E_SYSTEM, "%s: %s", what, strerror(errno));
	ERR_error_string_n(code, buf, sizeof(buf));
	ERR_clear_error();
	return vigil_sink_conn_fail(s, VIGIL_E_CRYPTO, "%s: %s", what, buf);
}

/* Waits as SSL_get_error asks; returns 1 to retry, 0 to fail (timed out) or -1. */
static int tls_wait(vigil_sink *s, int ret, int timeout_ms)
{
	int e = SSL_get_error(s->ssl, ret);

	if (e == SSL_ERROR_WANT_READ)
		return vigil_sink_wait_fd(s, s->fd, POLLIN, timeout_ms) > 0 ? 1 : 0;
	if (e == SSL_ERROR_WANT_WRITE)
		return vigil_sink_wait_fd(s, s->fd, POLLOUT, timeout_ms) > 0 ? 1 : 0;
	return -1;
}

static int tls_connect(vigil_sink *s)
{
	const char *host = s->target.host;
	unsigned char addr[16];
	bool is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
	int64_t end;
	int rc;

	if ((rc = net_connect(s, SOCK_STREAM)) != 0)
		return rc;
	ERR_clear_error();
	if ((s->ssl = SSL_new(s->tls)) == NULL || SSL_set_fd(s->ssl, s->fd) != 1)
		return tls_fail(s, "TLS setup", 0);
	/* RFC 5425 section 5.2 / RFC 6125: the certificate must name the host we were told
	 * to reach. An address is matched against iPAddress entries, and is not sent as
	 * SNI (RFC 6066 section 3 allows names only). */
	if (is_ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl), host) != 1)
			return tls_fail(s, "TLS setup", 0);
	} else {
		SSL_set_hostflags(s->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set1_host(s->ssl, host) != 1 || SSL_set_tlsext_host_name(s->ssl, host) != 1)
			return tls_fail(s, "TLS setup", 0);
	}
	end = vigil_sink_now_ms() + s->opt.connect_timeout_ms;
	for (;;) {
		int r, w;

		ERR_clear_error();
		errno = 0;
		if ((r = SSL_connect(s->ssl)) == 1)
			break;
		if ((w = tls_wait(s, r, (int)(end - vigil_sink_now_ms()))) > 0)
			continue;
		if (w == 0)
			return vigil_sink_conn_fail(s, VIGIL_E_SYSTEM, "TLS handshake timed out");
		if (SSL_get_verify_result(s->ssl) != X509_V_OK) {
			long v = SSL_get_verify_result(s->ssl);

			ERR_clear_error();
			return vigil_sink_conn_fail(
			    s, VIGIL_E_CRYPTO,
			    "refusing the server: its certificate does not verify against %s for "
			    "%s: %s",
			    s->opt.ca_file, host, X509_verify_cert_error_string(v));
		}
		return tls_fail(s, "TLS handshake", r);
	}
	s->wbytes = BIO_number_written(SSL_get_wbio(s->ssl));
	return 0;
}

static int tls_write(vigil_sink *s, const sink_batch *b, size_t *done)
{
	size_t off = 0;

	*done = 0;
	while (off < b->len) {
		size_t chunk = b->len - off;
		int r, w;

		ERR_clear_error();
		errno = 0;
		/* Without SSL_MODE_ENABLE_PARTIAL_WRITE this returns only when all of it went,
		 * and a retry after WANT_* passes the same arguments, as OpenSSL requires. */
		if ((r = SSL_write(s->ssl, b->buf + off, (int)chunk)) > 0) {
			off += (size_t)r;
			continue;
		}
		if ((w = tls_wait(s, r, (int)s->opt.io_timeout_ms)) > 0)
			continue;
		if (w == 0)
			return vigil_sink_conn_fail(s, VIGIL_E_SYSTEM,
						    "no progress writing for %u ms",
						    s->opt.io_timeout_ms);
		return tls_fail(s, "TLS write", r);
	}
	/* Bytes written to the socket, TLS records included: what SIOCOUTQ counts against. */
	s->wbytes = BIO_number_written(SSL_get_wbio(s->ssl));
	*done = b->n;
	return 0;
}

static int tls_check(vigil_sink *s)
{
	char buf[512];

	/* TLS 1.3 servers send session tickets after the handshake: read and ignore. */
	for (int i = 0; i < 64; i++) {
		int r, e;

		ERR_clear_error();
		errno = 0;
		if ((r = SSL_read(s->ssl, buf, sizeof(buf))) > 0)
			continue;
		e = SSL_get_error(s->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return 0;
		return tls_fail(s, "TLS", r);
	}
	return 0;
}

static bool tls_finish(vigil_sink *s, int timeout_ms)
{
	int64_t end = vigil_sink_now_ms() + timeout_ms;
	char buf[512];

	ERR_clear_error();
	SSL_shutdown(s->ssl); /* our close_notify; the peer's (or its FIN) comes below */
	if (shutdown(s->fd, SHUT_WR) != 0)
		return false;
	for (;;) {
		int64_t left = end - vigil_sink_now_ms();
		int r, e;

		if (left <= 0 || vigil_sink_wait_fd(s, s->fd, POLLIN, (int)left) <= 0)
			return false;
		ERR_clear_error();
		errno = 0;
		if ((r = SSL_read(s->ssl, buf, sizeof(buf))) > 0)
			continue;
		e = SSL_get_error(s->ssl, r);
		if (e == SSL_ERROR_WANT_READ)
			continue;
		/* close_notify, or an end of stream (SSL_OP_IGNORE_UNEXPECTED_EOF): in order.
		 * A reset is not. */
		ERR_clear_error();
		return e == SSL_ERROR_ZERO_RETURN;
	}
}

const sink_backend vigil_sink_tls_backend = {
    .name = "tls",
    .tcp_acked = true,
    .connect = tls_connect,
    .frame = frame_counted,
    .write = tls_write,
    .acked = tcp_acked,
    .idle_fd = sock_idle_fd,
    .check = tls_check,
    .finish = tls_finish,
    .disconnect = disconnect_sock,
};
