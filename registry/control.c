/* SPDX-License-Identifier: Apache-2.0 */
/* The control socket: a line in, a line out; state changes run on the commit loop. */
#include "control.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "instant.h"
#include "retention.h"

#define CONTROL_LINE_MAX 1024
#define CONTROL_NOTES_MAX 256 /* notes in one query-notes request */
#define CONTROL_REQ_MAX (CONTROL_LINE_MAX * (CONTROL_NOTES_MAX + 1))
#define CONTROL_IO_MS 5000

struct control {
	struct control_config cfg;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd;
	pthread_t th;
	atomic_int stop;
	atomic_int exited;
};

/* A clock move, decided on the loop's thread. */
struct clock_task {
	struct control *c;
	uint64_t target;
};

static int
clock_task_run(void *arg, struct ledger_txn *t, uint64_t now, char *out, size_t cap)
{
	struct clock_task *k = arg;
	struct paso_diag d = {0};
	struct paso_clock probe;
	char a[INSTANT_TEXT_BYTES], b[INSTANT_TEXT_BYTES], detail[160];
	int r;

	/* Validate on a copy: the real clock moves only after the entry is durable. */
	probe = (struct paso_clock){k->c->cfg.clock->simulated, now};
	if ((r = clock_set(&probe, k->target, &d)) != 0) {
		(void)snprintf(out, cap, "%s", d.msg);
		return r;
	}
	(void)snprintf(detail, sizeof(detail), "simulated clock moved from %s to %s",
		instant_format(now, a), instant_format(k->target, b));
	if ((r = decide_event(
		     k->c->cfg.dc, t, now, PASO__ACTION__CLOCK_SET, 0, "operation", detail)) != 0)
		return r;
	(void)snprintf(out, cap, "%s", detail);
	return 0;
}

static void
clock_task_commit(void *arg)
{
	struct clock_task *k = arg;
	struct paso_diag d;

	(void)clock_set(k->c->cfg.clock, k->target, &d);
	/* What the move made due (a retention sweep, above all) runs now, not a second later. */
	loop_timers_due(k->c->cfg.loop);
}

static void
task_wake(void *arg)
{
	uint64_t one = 1;

	(void)!write(*(int *)arg, &one, sizeof(one));
}

/* Runs task on the loop in its own transaction and waits for it; msg gets its text. */
static int
run_on_loop(struct control *c, int (*task)(void *, struct ledger_txn *, uint64_t, char *, size_t),
	void (*after_commit)(void *), void *arg, char *msg, size_t cap)
{
	struct loop_item *it;
	struct pollfd pf;
	uint64_t v;
	int efd, r;

	if ((it = calloc(1, sizeof(*it))) == NULL)
		return PASO_E_NOMEM;
	if ((efd = eventfd(0, EFD_CLOEXEC)) < 0) {
		free(it);
		return PASO_E_IO;
	}
	it->task = task;
	it->task_arg = arg;
	it->after_commit = after_commit;
	it->wake = task_wake;
	it->wake_arg = &efd;
	loop_submit(c->cfg.loop, it);
	pf.fd = efd;
	pf.events = POLLIN;
	while (!loop_item_done(c->cfg.loop, it))
		if (poll(&pf, 1, 1000) > 0)
			(void)!read(efd, &v, sizeof(v));
	r = it->task_rc;
	(void)snprintf(msg, cap, "%s", it->task_out[0] ? it->task_out : paso_strerror(r));
	close(efd);
	free(it);
	return r;
}

/* Runs a clock move on the loop and waits for it. */
static int
move_clock(struct control *c, uint64_t target, char *msg, size_t cap)
{
	struct clock_task k = {c, target};

	return run_on_loop(c, clock_task_run, clock_task_commit, &k, msg, cap);
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one line (bounded in size and time). */
static int
read_line(int fd, char *buf, size_t cap)
{
	struct pollfd pf = {fd, POLLIN, 0};
	size_t n = 0;
	ssize_t k;

	while (n + 1 < cap) {
		if (poll(&pf, 1, CONTROL_IO_MS) <= 0)
			return -1;
		if ((k = read(fd, buf + n, cap - 1 - n)) <= 0)
			return -1;
		n += (size_t)k;
		buf[n] = '\0';
		if (memchr(buf, '\n', n) != NULL) {
			*strchr(buf, '\n') = '\0';
			return 0;
		}
	}
	return -1;
}

static int
parse_seconds(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (s[0] < '0' || s[0] > '9')
		return -1;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > INSTANT_MAX)
		return -1;
	*out = v;
	return 0;
}

/*
 * A partner's own record of the hit/no-hit queries (`paso-hub query`) or release requests
 * (`paso-hub release`) it sent, while it serves: n entries in one transaction.
 */
struct note_task {
	struct control *c;
	size_t n;
	const int *codes;
	char *const *details;
	int release; /* release requests, not queries */
};

static int
note_task_run(void *arg, struct ledger_txn *t, uint64_t now, char *out, size_t cap)
{
	struct note_task *k = arg;
	size_t i;
	int r;

	for (i = 0; i < k->n; i++)
		if ((r = decide_event(k->c->cfg.dc, t, now,
			     k->release ? PASO__ACTION__RELEASE : PASO__ACTION__QUERY, k->codes[i],
			     k->release ? "release request" : "hit/no-hit query", k->details[i])) !=
			0)
			return r;
	(void)snprintf(out, cap, "recorded %zu", k->n);
	return 0;
}

/* Splits "CODE DETAIL" in place; 0, or -1 when it is not that. */
static int
note_parse(char *args, int *code, char **detail)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(args, &end, 10);
	if (errno != 0 || end == args || *end != ' ' || v > 0 || v < -1000)
		return -1;
	*code = (int)v;
	*detail = end + 1;
	return 0;
}

/* Appends the parsed notes on the loop and waits for their commit. */
static int
note_run(struct control *c, size_t n, const int *codes, char *const *details, int release,
	char *msg, size_t cap)
{
	struct note_task k = {c, n, codes, details, release};

	return run_on_loop(c, note_task_run, NULL, &k, msg, cap);
}

/* Answers one request line into ans. */
static void
handle(struct control *c, const char *line, char *ans, size_t cap)
{
	char msg[512], ts[INSTANT_TEXT_BYTES];
	uint64_t v, now;
	int r;

	if (strcmp(line, "clock") == 0) {
		now = clock_now(c->cfg.clock);
		(void)snprintf(ans, cap, "ok %" PRIu64 " %s %s\n", now, instant_format(now, ts),
			c->cfg.clock->simulated ? "simulated" : "real");
		return;
	}
	if (strncmp(line, "clock set ", 10) == 0 || strncmp(line, "clock advance ", 14) == 0) {
		int adv = line[6] == 'a';

		if (parse_seconds(line + (adv ? 14 : 10), &v) != 0) {
			(void)snprintf(ans, cap,
				"error %d INVALID_ARG: '%.60s': not a number of seconds\n",
				PASO_E_INVALID_ARG, line);
			return;
		}
		now = clock_now(c->cfg.clock);
		if (adv && v > INSTANT_MAX - now) {
			(void)snprintf(ans, cap,
				"error %d FIELD_RANGE: advancing passes 9999-12-31\n",
				PASO_E_FIELD_RANGE);
			return;
		}
		r = move_clock(c, adv ? now + v : v, msg, sizeof(msg));
		if (r != 0) {
			(void)snprintf(ans, cap, "error %d %s: %s\n", r, paso_errname(r), msg);
			return;
		}
		now = clock_now(c->cfg.clock);
		(void)snprintf(
			ans, cap, "ok %" PRIu64 " %s %s\n", now, instant_format(now, ts), msg);
		return;
	}
	if (strcmp(line, "policy reload") == 0) {
		if (c->cfg.reload_task == NULL) {
			(void)snprintf(ans, cap, "error %d INVALID_ARG: this hub cannot reload\n",
				PASO_E_INVALID_ARG);
			return;
		}
		r = run_on_loop(c, c->cfg.reload_task, c->cfg.reload_commit, c->cfg.reload_arg, msg,
			sizeof(msg));
		if (r != 0)
			(void)snprintf(ans, cap, "error %d %s: %s\n", r, paso_errname(r), msg);
		else
			(void)snprintf(ans, cap, "ok %s\n", msg);
		return;
	}
	if (strcmp(line, "protect renew") == 0) {
		if (c->cfg.renew_task == NULL) {
			(void)snprintf(ans, cap, "error %d INVALID_ARG: this hub cannot renew\n",
				PASO_E_INVALID_ARG);
			return;
		}
		r = run_on_loop(c, c->cfg.renew_task, NULL, c->cfg.reload_arg, msg, sizeof(msg));
		if (r != 0)
			(void)snprintf(ans, cap, "error %d %s: %s\n", r, paso_errname(r), msg);
		else
			(void)snprintf(ans, cap, "ok %s\n", msg);
		return;
	}
	if (strcmp(line, "sweep dry-run") == 0) {
		struct retention_due due;
		struct vault_txn *t = NULL;

		/* A read transaction beside the loop's writes: it sees the last commit. */
		now = clock_now(c->cfg.clock);
		if ((r = vault_begin(c->cfg.dc->vault, 1, &t)) == 0)
			r = retention_due(t, c->cfg.kr, c->cfg.dc->policy, now, &due);
		vault_abort(t);
		if (r != 0) {
			(void)snprintf(ans, cap, "error %d %s: reading the store: %s\n", r,
				paso_errname(r), paso_strerror(r));
			return;
		}
		retention_due_text(&due, now, msg, sizeof(msg));
		(void)snprintf(ans, cap, "ok %s\n", msg);
		return;
	}
	if (strncmp(line, "query-note ", 11) == 0 || strncmp(line, "release-note ", 13) == 0) {
		int rel = line[0] == 'r', code;
		char *detail, *args = (char *)line + (rel ? 13 : 11);

		if (note_parse(args, &code, &detail) != 0) {
			r = PASO_E_INVALID_ARG;
			(void)snprintf(msg, sizeof(msg), "%s-note: expected CODE DETAIL",
				rel ? "release" : "query");
		} else
			r = note_run(c, 1, &code, &detail, rel, msg, sizeof(msg));
		if (r != 0)
			(void)snprintf(ans, cap, "error %d %s: %s\n", r, paso_errname(r), msg);
		else
			(void)snprintf(ans, cap, "ok 0 - %s\n", msg);
		return;
	}
	(void)snprintf(ans, cap,
		"error %d INVALID_ARG: unknown command '%.60s' (clock, clock set S, clock advance S, "
		"sweep dry-run, policy reload, protect renew)\n",
		PASO_E_INVALID_ARG, line);
}

/* A request's lines as they arrive, bounded in size (CONTROL_REQ_MAX) and time. */
struct req_reader {
	int fd;
	char buf[CONTROL_REQ_MAX + 1];
	size_t len, off;
};

/* The next line (NUL-terminated in place, at most CONTROL_LINE_MAX); 0, or -1. */
static int
req_line(struct req_reader *rr, char **line)
{
	struct pollfd pf = {rr->fd, POLLIN, 0};
	char *nl;
	ssize_t k;

	for (;;) {
		nl = memchr(rr->buf + rr->off, '\n', rr->len - rr->off);
		if (nl != NULL) {
			if ((size_t)(nl - (rr->buf + rr->off)) >= CONTROL_LINE_MAX)
				return -1;
			*nl = '\0';
			*line = rr->buf + rr->off;
			rr->off = (size_t)(nl - rr->buf) + 1;
			return 0;
		}
		if (rr->len - rr->off >= CONTROL_LINE_MAX || rr->len == CONTROL_REQ_MAX ||
			poll(&pf, 1, CONTROL_IO_MS) <= 0 ||
			(k = read(rr->fd, rr->buf + rr->len, CONTROL_REQ_MAX - rr->len)) <= 0)
			return -1;
		rr->len += (size_t)k;
	}
}

/*
 * "query-notes N" (or "release-notes N") and N lines "CODE DETAIL": a partner's batch of
 * notes, one transaction.
 */
static void
handle_notes(
	struct control *c, struct req_reader *rr, const char *args, int rel, char *ans, size_t cap)
{
	int codes[CONTROL_NOTES_MAX];
	char *details[CONTROL_NOTES_MAX], msg[512], *l, *end;
	unsigned long n;
	size_t i;
	int r;

	errno = 0;
	n = strtoul(args, &end, 10);
	if (errno != 0 || end == args || *end != '\0' || n < 1 || n > CONTROL_NOTES_MAX) {
		(void)snprintf(ans, cap, "error %d INVALID_ARG: %s-notes N: N is 1..%d\n",
			PASO_E_INVALID_ARG, rel ? "release" : "query", CONTROL_NOTES_MAX);
		return;
	}
	for (i = 0; i < n; i++)
		if (req_line(rr, &l) != 0 || note_parse(l, &codes[i], &details[i]) != 0) {
			(void)snprintf(ans, cap,
				"error %d INVALID_ARG: %s-notes: line %zu of %lu is not CODE DETAIL "
				"(nothing recorded)\n",
				PASO_E_INVALID_ARG, rel ? "release" : "query", i + 1, n);
			return;
		}
	if ((r = note_run(c, n, codes, details, rel, msg, sizeof(msg))) != 0)
		(void)snprintf(ans, cap, "error %d %s: %s\n", r, paso_errname(r), msg);
	else
		(void)snprintf(ans, cap, "ok 0 - %s\n", msg);
}

static void
serve_one(struct control *c, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct req_reader *rr;
	char ans[700], *line;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
		(cred.uid != geteuid() && cred.uid != 0)) {
		hublog_printf(
			c->cfg.log, "control: refused a request from uid %ld", (long)cred.uid);
		return;
	}
	if ((rr = malloc(sizeof(*rr))) == NULL)
		return;
	rr->fd = fd;
	rr->len = rr->off = 0;
	if (req_line(rr, &line) != 0)
		goto out;
	if (strncmp(line, "query-notes ", 12) == 0)
		handle_notes(c, rr, line + 12, 0, ans, sizeof(ans));
	else if (strncmp(line, "release-notes ", 14) == 0)
		handle_notes(c, rr, line + 14, 1, ans, sizeof(ans));
	else
		handle(c, line, ans, sizeof(ans));
	if (strncmp(ans, "ok", 2) == 0 && strcmp(line, "clock") != 0 &&
		strcmp(line, "sweep dry-run") != 0)
		hublog_printf(c->cfg.log, "control: %s", ans + 3);
	(void)!write(fd, ans, strlen(ans));
out:
	free(rr);
}

static void *
control_thread(void *arg)
{
	struct control *c = arg;
	struct pollfd pf;
	int fd;

	while (!atomic_load(&c->stop)) {
		pf.fd = c->fd;
		pf.events = POLLIN;
		if (poll(&pf, 1, 100) <= 0)
			continue;
		if ((fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		serve_one(c, fd);
		close(fd);
	}
	atomic_store(&c->exited, 1);
	return NULL;
}

int
control_open(const struct control_config *cfg, struct control **out, struct paso_diag *d)
{
	struct sockaddr_un sa;
	struct control *c;
	mode_t old;
	int r;

	*out = NULL;
	if (strlen(cfg->path) >= sizeof(sa.sun_path))
		return paso_diag_set(d, PASO_E_INVALID_ARG,
			"%s: path too long for a control socket (at most %zu bytes)", cfg->path,
			sizeof(sa.sun_path) - 1);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return PASO_E_NOMEM;
	c->cfg = *cfg;
	(void)snprintf(c->path, sizeof(c->path), "%s", cfg->path);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		r = paso_diag_set(d, PASO_E_IO, "control socket: %s", strerror(errno));
		free(c);
		return r;
	}
	(void)unlink(c->path); /* a stale socket of an earlier run; the audit lock guards us */
	old = umask(077);
	r = bind(c->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r != 0 || listen(c->fd, 8) != 0) {
		r = paso_diag_set(d, PASO_E_IO, "%s: %s", c->path, strerror(errno));
		close(c->fd);
		free(c);
		return r;
	}
	if (pthread_create(&c->th, NULL, control_thread, c) != 0) {
		close(c->fd);
		(void)unlink(c->path);
		free(c);
		return PASO_E_INTERNAL;
	}
	*out = c;
	return 0;
}

void
control_stop(struct control *c)
{
	if (c != NULL)
		atomic_store(&c->stop, 1);
}

int
control_stopped(struct control *c)
{
	return c == NULL || atomic_load(&c->exited);
}

void
control_close(struct control *c)
{
	if (c == NULL)
		return;
	atomic_store(&c->stop, 1);
	pthread_join(c->th, NULL);
	close(c->fd);
	(void)unlink(c->path);
	free(c);
}

int
control_request(const char *path, const char *line, char *reply, size_t cap, struct paso_diag *d)
{
	struct sockaddr_un sa;
	char buf[1024];
	int fd, r;

	reply[0] = '\0';
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return paso_diag_set(d, PASO_E_INVALID_ARG, "%s: path too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
		connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		r = paso_diag_set(d, PASO_E_IO,
			"%s: no hub answers (%s); is paso-hub serve running?", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	if (write_all(fd, line, strlen(line)) != 0 || write_all(fd, "\n", 1) != 0 ||
		read_line(fd, buf, sizeof(buf)) != 0) {
		close(fd);
		return paso_diag_set(d, PASO_E_IO, "%s: the hub did not answer", path);
	}
	close(fd);
	(void)snprintf(reply, cap, "%s", buf);
	if (strncmp(buf, "ok", 2) == 0)
		return 0;
	if (strncmp(buf, "error ", 6) == 0) {
		long code = strtol(buf + 6, NULL, 10);

		if (code < 0 && code > -1000)
			return paso_diag_set(d, (int)code, "%s", buf + 6);
	}
	return paso_diag_set(d, PASO_E_IO, "%s: unexpected answer '%.80s'", path, buf);
}
