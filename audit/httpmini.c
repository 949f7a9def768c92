/* SPDX-License-Identifier: Apache-2.0 */
/* Minimal HTTP/1.1 over plain TCP: one request per connection, Content-Length framing. */
#include "httpmini.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 8192

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
httpmini_parse_url(const char *url, struct httpmini_url *u, struct paso_diag *d)
{
	const char *h, *slash, *colon, *end;
	size_t hl, pl;

	memset(u, 0, sizeof(*u));
	if (strncmp(url, "http://", 7) != 0)
		return paso_diag_set(d, PASO_E_INVALID_ARG, "'%s': not an http:// URL", url);
	h = url + 7;
	slash = strchr(h, '/');
	end = slash != NULL ? slash : h + strlen(h);
	if (*h == '[') { /* [::1]:port */
		const char *rb = memchr(h, ']', (size_t)(end - h));

		if (rb == NULL)
			return paso_diag_set(d, PASO_E_INVALID_ARG, "'%s': bad IPv6 host", url);
		hl = (size_t)(rb - h - 1);
		if (hl == 0 || hl >= sizeof(u->host))
			return paso_diag_set(d, PASO_E_INVALID_ARG, "'%s': bad host", url);
		memcpy(u->host, h + 1, hl);
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		hl = (size_t)((colon != NULL ? colon : end) - h);
		if (hl == 0 || hl >= sizeof(u->host))
			return paso_diag_set(d, PASO_E_INVALID_ARG, "'%s': bad host", url);
		memcpy(u->host, h, hl);
	}
	if (colon != NULL) {
		pl = (size_t)(end - colon - 1);
		if (pl == 0 || pl >= sizeof(u->port) || strspn(colon + 1, "0123456789") < pl)
			return paso_diag_set(d, PASO_E_INVALID_ARG, "'%s': bad port", url);
		memcpy(u->port, colon + 1, pl);
	} else {
		memcpy(u->port, "80", 3);
	}
	if (snprintf(u->prefix, sizeof(u->prefix), "%s", slash != NULL ? slash : "/") >=
		(int)sizeof(u->prefix) - 1)
		return paso_diag_set(d, PASO_E_INVALID_ARG, "'%s': path too long", url);
	pl = strlen(u->prefix);
	if (u->prefix[pl - 1] != '/') {
		u->prefix[pl] = '/';
		u->prefix[pl + 1] = '\0';
	}
	if (strchr(u->prefix, '?') != NULL || strchr(u->prefix, ' ') != NULL)
		return paso_diag_set(
			d, PASO_E_INVALID_ARG, "'%s': query or space in the path", url);
	return 0;
}

/* Waits for fd to be ready (events) until deadline; PASO_E_TIMEOUT when it passes. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	int64_t left;
	int k;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return PASO_E_TIMEOUT;
		k = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (k > 0)
			return 0;
		if (k == 0)
			return PASO_E_TIMEOUT;
		if (errno != EINTR)
			return PASO_E_IO;
	}
}

static int
send_all(int fd, const void *p, size_t len, int64_t deadline)
{
	const uint8_t *b = p;
	ssize_t w;
	int r;

	while (len > 0) {
		if ((r = wait_fd(fd, POLLOUT, deadline)) != 0)
			return r;
		w = send(fd, b, len, MSG_NOSIGNAL);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0)
			return PASO_E_IO;
		b += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Reads into b (cap) until the blank line ending the head; *hl = head length incl. CRLFCRLF. */
static int
read_head(int fd, char *b, size_t cap, size_t *got, size_t *hl, int64_t deadline)
{
	char *e;
	ssize_t g;
	int r;

	*hl = 0;
	for (;;) {
		b[*got] = '\0';
		if ((e = strstr(b, "\r\n\r\n")) != NULL) {
			*hl = (size_t)(e - b) + 4;
			return 0;
		}
		if (*got + 1 >= cap)
			return PASO_E_FRAME_TOO_LARGE;
		if ((r = wait_fd(fd, POLLIN, deadline)) != 0)
			return r;
		g = recv(fd, b + *got, cap - 1 - *got, 0);
		if (g < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (g <= 0)
			return PASO_E_IO;
		*got += (size_t)g;
	}
}

/* The value of header name in head (case-insensitive), copied into out; 0 if found. */
static int
header_get(const char *head, const char *name, char *out, size_t cap)
{
	const char *p = strstr(head, "\r\n"), *v, *e;
	size_t nl = strlen(name), k;

	while (p != NULL && p[2] != '\r') {
		p += 2;
		e = strstr(p, "\r\n");
		if (e == NULL)
			return -1;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			v = p + nl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			k = (size_t)(e - v);
			while (k > 0 && (v[k - 1] == ' ' || v[k - 1] == '\t'))
				k--;
			if (k >= cap)
				return -1;
			memcpy(out, v, k);
			out[k] = '\0';
			return 0;
		}
		p = e;
	}
	return -1;
}

/* Content-Length as a strict decimal; -1 if absent, -2 if malformed. */
static long long
content_length(const char *head)
{
	char v[32], *end;
	unsigned long long n;

	if (header_get(head, "Content-Length", v, sizeof(v)) != 0)
		return -1;
	if (v[0] < '0' || v[0] > '9')
		return -2;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0' || n > HTTPMINI_MAX_BODY)
		return -2;
	return (long long)n;
}

static int
connect_to(const struct httpmini_url *u, int64_t deadline, int *fdp, struct paso_diag *d)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *a;
	int fd = -1, r = PASO_E_IO, err = 0;
	socklen_t sl = sizeof(err);

	*fdp = -1;
	if (getaddrinfo(u->host, u->port, &hints, &res) != 0)
		return paso_diag_set(d, PASO_E_IO, "%s:%s: cannot resolve", u->host, u->port);
	for (a = res; a != NULL; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 ||
			(errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) == 0 &&
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == 0 && err == 0)) {
			r = 0;
			break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (r != 0)
		return paso_diag_set(
			d, PASO_E_IO, "http://%s:%s/: cannot connect", u->host, u->port);
	*fdp = fd;
	return 0;
}

/*
 * Reads one response from fd (the request sent): status line, head, a body of at most max bytes
 * framed by Content-Length or by the end of the stream. what names the server in d.
 */
static int
read_response(int fd, size_t max, int64_t deadline, const char *what,
	struct httpmini_response *resp, struct paso_diag *d)
{
	char head[HEAD_MAX + 1];
	uint8_t *b = NULL, *nb;
	size_t got = 0, hl, blen, bcap;
	long long cl;
	ssize_t g;
	int r, status;

	if ((r = read_head(fd, head, sizeof(head), &got, &hl, deadline)) != 0) {
		paso_diag_set(d, r, "%s: %s", what,
			r == PASO_E_TIMEOUT ? "timed out" : "no valid answer");
		goto out;
	}
	if (sscanf(head, "HTTP/1.%*1[01] %3d", &status) != 1 || status < 100 || status > 599) {
		r = paso_diag_set(d, PASO_E_IO, "%s: malformed status line", what);
		goto out;
	}
	head[hl - 2] = '\0';
	(void)header_get(head, "Content-Type", resp->content_type, sizeof(resp->content_type));
	cl = content_length(head);
	if (cl == -2 || (cl >= 0 && (size_t)cl > max)) {
		r = paso_diag_set(d, cl == -2 ? PASO_E_IO : PASO_E_FRAME_TOO_LARGE, "%s: %s", what,
			cl == -2 ? "malformed Content-Length" : "answer larger than expected");
		goto out;
	}
	blen = got - hl;
	bcap = (cl >= 0 ? (size_t)cl : blen + 65536) + 1;
	if (blen + 1 > bcap)
		bcap = blen + 1;
	if ((b = malloc(bcap)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	memcpy(b, head + hl, blen);
	while (cl < 0 || blen < (size_t)cl) {
		if (blen + 1 >= bcap) {
			if (bcap > max + 1) {
				r = paso_diag_set(d, PASO_E_FRAME_TOO_LARGE,
					"%s: answer larger than expected", what);
				goto out;
			}
			if ((nb = realloc(b, bcap * 2)) == NULL) {
				r = PASO_E_NOMEM;
				goto out;
			}
			b = nb;
			bcap *= 2;
		}
		if ((r = wait_fd(fd, POLLIN, deadline)) != 0) {
			paso_diag_set(d, r, "%s: timed out reading the body", what);
			goto out;
		}
		g = recv(fd, b + blen, bcap - 1 - blen, 0);
		if (g < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (g == 0 && cl < 0)
			break;
		if (g <= 0) {
			r = paso_diag_set(d, PASO_E_IO, "%s: body cut short", what);
			goto out;
		}
		blen += (size_t)g;
	}
	if (blen > max || (cl >= 0 && blen != (size_t)cl)) {
		r = paso_diag_set(d, PASO_E_IO, "%s: body length wrong", what);
		goto out;
	}
	b[blen] = '\0';
	resp->status = status;
	resp->body = b;
	resp->len = blen;
	b = NULL;
	r = 0;
out:
	free(b);
	return r;
}

int
httpmini_request(const struct httpmini_url *u, const char *method, const char *path,
	const char *content_type, const uint8_t *body, size_t len, size_t max, int timeout_ms,
	struct httpmini_response *resp, struct paso_diag *d)
{
	int64_t deadline = now_ms() + timeout_ms;
	char req[1024], what[600];
	int fd = -1, k, r;

	memset(resp, 0, sizeof(*resp));
	if ((r = connect_to(u, deadline, &fd, d)) != 0)
		goto out;
	k = snprintf(req, sizeof(req),
		"%s %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: paso\r\nConnection: close\r\n"
		"%s%s%sContent-Length: %zu\r\n\r\n",
		method, path, u->host, u->port, content_type ? "Content-Type: " : "",
		content_type ? content_type : "", content_type ? "\r\n" : "", len);
	if (k < 0 || (size_t)k >= sizeof(req)) {
		r = paso_diag_set(d, PASO_E_INVALID_ARG, "request path too long: %s", path);
		goto out;
	}
	if ((r = send_all(fd, req, (size_t)k, deadline)) != 0 ||
		(len > 0 && (r = send_all(fd, body, len, deadline)) != 0)) {
		paso_diag_set(d, r, "http://%s:%s%s: %s", u->host, u->port, path,
			r == PASO_E_TIMEOUT ? "timed out" : "cannot send");
		goto out;
	}
	(void)snprintf(what, sizeof(what), "http://%s:%s%s", u->host, u->port, path);
	r = read_response(fd, max, deadline, what, resp, d);
out:
	if (fd >= 0)
		close(fd);
	return r;
}

/* ---- server ---- */

struct httpmini_server {
	int lfd, stop_pipe[2];
	unsigned port;
	size_t max_body;
	int timeout_ms;
	httpmini_handler h;
	void *ctx;
	pthread_t thread;
};

static const char *
reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 413:
		return "Content Too Large";
	case 422:
		return "Unprocessable Entity";
	case 500:
		return "Internal Server Error";
	default:
		return "Status";
	}
}

static void
reply_send(int fd, const struct httpmini_reply *rep, int64_t deadline)
{
	char head[256];
	int k;

	k = snprintf(head, sizeof(head),
		"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		"Connection: close\r\n\r\n",
		rep->status, reason(rep->status),
		rep->content_type ? rep->content_type : "text/plain; charset=utf-8", rep->len);
	if (k > 0 && (size_t)k < sizeof(head) && send_all(fd, head, (size_t)k, deadline) == 0 &&
		rep->len > 0)
		(void)send_all(fd, rep->body, rep->len, deadline);
}

static void
reply_text(struct httpmini_reply *rep, int status, const char *msg)
{
	rep->status = status;
	rep->content_type = "text/plain; charset=utf-8";
	rep->body = strdup(msg);
	rep->len = rep->body ? strlen(rep->body) : 0;
}

static void
serve_one(struct httpmini_server *s, int fd)
{
	int64_t deadline = now_ms() + s->timeout_ms;
	struct httpmini_reply rep = {0};
	char head[HEAD_MAX + 1], method[8], path[512], *q;
	uint8_t *body = NULL;
	size_t got = 0, hl, blen;
	long long cl;
	ssize_t g;
	int r;

	if ((r = read_head(fd, head, sizeof(head), &got, &hl, deadline)) != 0) {
		if (r == PASO_E_FRAME_TOO_LARGE)
			reply_text(&rep, 413, "request head too large\n");
		else if (r == PASO_E_TIMEOUT)
			reply_text(&rep, 408, "timed out\n");
		else
			return;
		goto send;
	}
	if (sscanf(head, "%7s %511s HTTP/1.%*1[01]", method, path) != 2 || path[0] != '/') {
		reply_text(&rep, 400, "malformed request line\n");
		goto send;
	}
	if ((q = strchr(path, '?')) != NULL)
		*q = '\0';
	head[hl - 2] = '\0';
	cl = content_length(head);
	if (cl == -2 || (cl > 0 && (size_t)cl > s->max_body)) {
		reply_text(&rep, cl == -2 ? 400 : 413,
			cl == -2 ? "malformed Content-Length\n" : "request body too large\n");
		goto send;
	}
	if (cl < 0)
		cl = 0;
	blen = got - hl;
	if (blen > (size_t)cl) {
		reply_text(&rep, 400, "more bytes than Content-Length\n");
		goto send;
	}
	if ((body = malloc((size_t)cl + 1)) == NULL) {
		reply_text(&rep, 500, "out of memory\n");
		goto send;
	}
	memcpy(body, head + hl, blen);
	while (blen < (size_t)cl) {
		if ((r = wait_fd(fd, POLLIN, deadline)) != 0) {
			reply_text(&rep, 408, "timed out reading the body\n");
			goto send;
		}
		g = recv(fd, body + blen, (size_t)cl - blen, 0);
		if (g < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (g <= 0)
			goto done;
		blen += (size_t)g;
	}
	body[blen] = '\0';
	s->h(s->ctx, method, path, body, blen, &rep);
send:
	reply_send(fd, &rep, deadline);
done:
	free(rep.body);
	free(body);
}

static void *
server_main(void *arg)
{
	struct httpmini_server *s = arg;
	struct pollfd p[2];
	int fd;

	p[0].fd = s->lfd;
	p[0].events = POLLIN;
	p[1].fd = s->stop_pipe[0];
	p[1].events = POLLIN;
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents != 0)
			break;
		fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			continue;
		serve_one(s, fd);
		close(fd);
	}
	return NULL;
}

int
httpmini_server_start(const char *host, const char *port, size_t max_body, int timeout_ms,
	httpmini_handler h, void *ctx, struct httpmini_server **out, struct paso_diag *d)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct httpmini_server *s = NULL;
	int one = 1, r;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return PASO_E_NOMEM;
	s->lfd = s->stop_pipe[0] = s->stop_pipe[1] = -1;
	s->max_body = max_body;
	s->timeout_ms = timeout_ms;
	s->h = h;
	s->ctx = ctx;
	if (getaddrinfo(host, port, &hints, &res) != 0) {
		r = paso_diag_set(d, PASO_E_IO, "%s:%s: cannot resolve", host, port);
		goto out;
	}
	s->lfd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0 || setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
		bind(s->lfd, res->ai_addr, res->ai_addrlen) != 0 || listen(s->lfd, 128) != 0 ||
		getsockname(s->lfd, (struct sockaddr *)&ss, &sl) != 0) {
		r = paso_diag_set(
			d, PASO_E_IO, "%s:%s: cannot listen: %s", host, port, strerror(errno));
		goto out;
	}
	s->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
					   : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (pipe2(s->stop_pipe, O_CLOEXEC) != 0 ||
		pthread_create(&s->thread, NULL, server_main, s) != 0) {
		r = paso_diag_set(d, PASO_E_IO, "cannot start the server thread");
		goto out;
	}
	*out = s;
	s = NULL;
	r = 0;
out:
	if (res != NULL)
		freeaddrinfo(res);
	if (s != NULL) {
		if (s->lfd >= 0)
			close(s->lfd);
		if (s->stop_pipe[0] >= 0)
			close(s->stop_pipe[0]);
		if (s->stop_pipe[1] >= 0)
			close(s->stop_pipe[1]);
		free(s);
	}
	return r;
}

unsigned
httpmini_server_port(const struct httpmini_server *s)
{
	return s->port;
}

void
httpmini_server_stop(struct httpmini_server *s)
{
	if (s == NULL)
		return;
	(void)!write(s->stop_pipe[1], "x", 1);
	pthread_join(s->thread, NULL);
	close(s->lfd);
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
	free(s);
}

void
httpmini_static_handler(void *ctx, const char *method, const char *path, const uint8_t *body,
	size_t len, struct httpmini_reply *reply)
{
	const char *dir = ctx;
	char full[1024];
	struct stat st;
	ssize_t g;
	int fd;

	(void)body;
	(void)len;
	if (strcmp(method, "GET") != 0) {
		reply_text(reply, 405, "only GET\n");
		return;
	}
	if (strstr(path, "..") != NULL ||
		snprintf(full, sizeof(full), "%s%s", dir, path) >= (int)sizeof(full) ||
		(fd = open(full, O_RDONLY | O_CLOEXEC)) < 0) {
		reply_text(reply, 404, "not found\n");
		return;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > HTTPMINI_MAX_BODY ||
		(reply->body = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		reply_text(reply, 404, "not found\n");
		return;
	}
	g = read(fd, reply->body, (size_t)st.st_size);
	close(fd);
	if (g != st.st_size) {
		free(reply->body);
		reply->body = NULL;
		reply_text(reply, 500, "read error\n");
		return;
	}
	reply->status = 200;
	reply->content_type = "application/octet-stream";
	reply->len = (size_t)g;
}
