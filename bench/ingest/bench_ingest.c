/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ingest throughput through the whole hub: N kiosks over TLS, enrolments then crossings, every one
 * durable before its Ack. Printed beside a baseline measured in the same run: raw LMDB puts of the
 * same records (same count, same bytes), batched and durable, with no hub around them. Also the
 * decision layer alone, without a server (the path a simulation drives): the same frames
 * prepared, decided and committed through the ledger in the hub's groups, on one thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "be.h"
#include "capture.h"
#include "decide.h"
#include "deploy.h"
#include "keyring.h"
#include "ledger.h"
#include "policy.h"
#include "frame.h"
#include "kiosk.h"
#include "paso.pb-c.h"
#include "population.h"
#include "sample_pb.h"
#include "tls.h"
#include "../benchclock.h"

extern char **environ;

/* Refusals by code (a benchmark that measures refusals measures the wrong thing: say so). */
static pthread_mutex_t refused_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long refused_by_code[128];

static void
count_refusal(const Paso__Envelope *env)
{
	int c = env->body_case == PASO__ENVELOPE__BODY_ERROR ? -env->error->code : 0;

	pthread_mutex_lock(&refused_mu);
	refused_by_code[c >= 0 && c < 128 ? c : 0]++;
	pthread_mutex_unlock(&refused_mu);
}

struct frames {
	uint8_t **buf;
	size_t *len;
	unsigned *kiosk; /* which kiosk sends each frame */
	size_t n;
	size_t bytes;
};

struct sender {
	const char *hubdir, *name;
	uint16_t port;
	struct frames *f;
	size_t from, to; /* this kiosk's slice */
	unsigned window;
	pthread_barrier_t *ready; /* every kiosk connected: the clock starts */
	int rc;
	uint64_t refused;
};

#define MAX_KIOSKS 64
static char kiosks[MAX_KIOSKS][24]; /* bench-kiosk-00 ... */

/* CPU seconds (user + system) this process has used so far: the kiosk simulator's. */
static double
self_cpu(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds (user + system) process pid has used so far, from /proc; 0 if unreadable. */
static double
proc_cpu(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	size_t n;
	FILE *f;

	(void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields 14 and 15 (utime, stime) follow the ')' that closes the command name. */
	if ((p = strrchr(buf, ')')) == NULL ||
		sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) !=
			2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The kiosk whose slice [n*k/nk, n*(k+1)/nk) of n frames holds frame j (as send_all cuts). */
static unsigned
slice_of(uint64_t j, uint64_t n, unsigned nk)
{
	unsigned k = 0;

	while (k + 1 < nk && j >= n * (k + 1) / nk)
		k++;
	return k;
}

/* Serialized Envelopes for kiosk k: enrolments of people [lo, hi) or their crossings. */
static int
make_frames(struct population *pop, uint32_t people, uint32_t crossings, unsigned nk,
	struct frames *enrol, struct frames *cross)
{
	uint64_t start = (uint64_t)time(NULL); /* inside the hub's capture window */
	struct person_info pi;
	struct bio_sample s;
	Paso__Envelope env;
	Paso__Enroll en;
	Paso__Crossing cr;
	Paso__Capture cap;
	uint64_t *seq = calloc(nk, sizeof(*seq));
	uint32_t i;
	int r;

	enrol->buf = calloc(people, sizeof(uint8_t *));
	enrol->len = calloc(people, sizeof(size_t));
	enrol->kiosk = calloc(people, sizeof(unsigned));
	cross->buf = calloc(crossings, sizeof(uint8_t *));
	cross->len = calloc(crossings, sizeof(size_t));
	cross->kiosk = calloc(crossings, sizeof(unsigned));
	if (seq == NULL || !enrol->buf || !enrol->len || !cross->buf || !cross->len ||
		!enrol->kiosk || !cross->kiosk)
		return PASO_E_NOMEM;
	for (i = 0; i < people + crossings; i++) {
		uint32_t p = i < people ? i : (i - people) % people;
		unsigned k =
			i < people ? slice_of(i, people, nk) : slice_of(i - people, crossings, nk);
		struct frames *f = i < people ? enrol : cross;

		memset(&s, 0, sizeof(s));
		if ((r = population_person(pop, p, &pi)) != 0 ||
			(r = capture_take(pop, p, i < people ? 0 : 1 + i, PRESET_GOOD, &s)) != 0)
			return r;
		if (i >= people && (r = kiosk_two_fingers(&s)) != 0)
			return r;
		paso__envelope__init(&env);
		paso__capture__init(&cap);
		if ((r = sample_to_pb(&s, &cap)) != 0)
			return r;
		cap.capture_time = start + (uint64_t)i * 3600 / (people + crossings);
		env.kiosk_id = (char *)kiosks[k];
		env.seq = ++seq[k];
		if (i < people) {
			paso__enroll__init(&en);
			en.capture = &cap;
			en.category = pi.category;
			en.card_number = pi.card;
			en.crossing_point = "Ciudad Hidalgo";
			env.body_case = PASO__ENVELOPE__BODY_ENROLL;
			env.enroll = &en;
		} else {
			paso__crossing__init(&cr);
			cr.capture = &cap;
			cr.card_number = pi.card;
			cr.direction = PASO__DIRECTION__ENTRY;
			cr.crossing_point = "Ciudad Hidalgo";
			env.body_case = PASO__ENVELOPE__BODY_CROSSING;
			env.crossing = &cr;
		}
		if ((r = frame_encode(&env, FRAME_DEFAULT_MAX, &f->buf[f->n], &f->len[f->n])) != 0)
			return r;
		f->bytes += f->len[f->n];
		f->kiosk[f->n] = k;
		f->n++;
		sample_pb_release(&cap);
		bio_sample_clear(&s);
	}
	free(seq);
	return 0;
}

/*
 * A kiosk with a backlog sends a window's frames in one write: frames [from, to) of f gathered
 * in *bufp (grown as needed). The hub's kiosks (one TLS write: records of up to 16 KB) and the
 * plain baseline's (one write) send the same bytes so. Returns the length, 0 if out of memory.
 */
static size_t
gather(const struct frames *f, size_t from, size_t to, uint8_t **bufp, size_t *capp)
{
	uint8_t *nb;
	size_t j, n = 0;

	for (j = from; j < to; j++)
		n += f->len[j];
	if (n > *capp) {
		if ((nb = realloc(*bufp, n)) == NULL)
			return 0;
		*bufp = nb;
		*capp = n;
	}
	for (n = 0, j = from; j < to; j++) {
		memcpy(*bufp + n, f->buf[j], f->len[j]);
		n += f->len[j];
	}
	return n;
}

static void *
send_slice(void *arg)
{
	struct sender *s = arg;
	struct tls_ctx *ctx = NULL;
	struct tls_conn *c = NULL;
	struct paso_diag d = {0};
	char cert[1024], key[1024], ca[1024];
	Paso__Envelope *env;
	uint8_t *p, *out = NULL;
	uint32_t len;
	size_t i, j, end, n, cap = 0;

	(void)snprintf(cert, sizeof(cert), "%s/kiosks/%s.crt", s->hubdir, s->name);
	(void)snprintf(key, sizeof(key), "%s/kiosks/%s.key", s->hubdir, s->name);
	(void)snprintf(ca, sizeof(ca), "%s/ca/ca.crt", s->hubdir);
	if ((s->rc = tls_ctx_new_client(cert, key, ca, "paso-hub", &ctx, &d)) != 0 ||
		(s->rc = tls_connect(ctx, "127.0.0.1", s->port, 60000, &c, &d)) != 0)
		fprintf(stderr, "bench_ingest: %s: %s\n", s->name, d.msg);
	/* A kiosk keeps its connection for hours: its handshake is not part of the stream. */
	pthread_barrier_wait(s->ready);
	if (s->rc != 0)
		goto out;
	for (i = s->from; i < s->to; i = end) {
		end = i + s->window < s->to ? i + s->window : s->to;
		if ((n = gather(s->f, i, end, &out, &cap)) == 0) {
			s->rc = PASO_E_NOMEM;
			goto out;
		}
		if ((s->rc = tls_write_all(c, out, n)) != 0)
			goto out;
		for (j = i; j < end; j++) {
			if ((s->rc = tls_read_frame(c, FRAME_DEFAULT_MAX, &p, &len, &d)) != 0)
				goto out;
			if (frame_decode(p, len, &env, &d) == 0) {
				if (env->body_case != PASO__ENVELOPE__BODY_ACK) {
					s->refused++;
					count_refusal(env);
				}
				paso__envelope__free_unpacked(env, NULL);
			}
			free(p);
		}
	}
	tls_conn_shutdown(c);
out:
	free(out);
	tls_conn_free(c);
	tls_ctx_free(ctx);
	return NULL;
}

/*
 * Sends f from nk kiosks, each over its own connection, and returns the seconds from the moment
 * every kiosk is connected to the last answer. *kcpu and *hcpu get the CPU seconds this process
 * (the kiosks) and the hub (pid hub) used over the same span.
 */
static double
send_all(const char *hubdir, uint16_t port, struct frames *f, unsigned nk, unsigned window,
	uint64_t *refused, pid_t hub, double *kcpu, double *hcpu)
{
	struct sender s[MAX_KIOSKS];
	pthread_t th[MAX_KIOSKS];
	pthread_barrier_t ready;
	double t0, k0, h0;
	unsigned k;

	pthread_barrier_init(&ready, NULL, nk + 1);
	for (k = 0; k < nk; k++) {
		s[k] = (struct sender){hubdir, kiosks[k], port, f, f->n * k / nk,
			f->n * (k + 1) / nk, window, &ready, 0, 0};
		pthread_create(&th[k], NULL, send_slice, &s[k]);
	}
	pthread_barrier_wait(&ready);
	t0 = now_s();
	k0 = self_cpu();
	h0 = proc_cpu(hub);
	for (k = 0; k < nk; k++) {
		pthread_join(th[k], NULL);
		*refused += s[k].refused;
		if (s[k].rc != 0)
			fprintf(stderr, "bench_ingest: kiosk %u: %s\n", k, paso_strerror(s[k].rc));
	}
	t0 = now_s() - t0;
	*kcpu = self_cpu() - k0;
	*hcpu = proc_cpu(hub) - h0;
	pthread_barrier_destroy(&ready);
	return t0;
}

/* Raw LMDB: the same records (same sizes), random 16-byte keys, batch per txn, durable. */
static double
raw_lmdb(const char *dir, const struct frames *f, unsigned batch)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v;
	uint8_t key[16];
	double t0;
	size_t i;

	mkdir(dir, 0700);
	mdb_env_create(&env);
	mdb_env_set_mapsize(env, (size_t)4 << 30);
	if (mdb_env_open(env, dir, 0, 0600) != 0)
		return -1;
	mdb_txn_begin(env, NULL, 0, &txn);
	mdb_dbi_open(txn, NULL, 0, &dbi);
	mdb_txn_commit(txn);
	t0 = now_s();
	for (i = 0; i < f->n; i++) {
		if (i % batch == 0)
			mdb_txn_begin(env, NULL, 0, &txn);
		randombytes_buf(key, sizeof(key));
		k.mv_size = sizeof(key);
		k.mv_data = key;
		v.mv_size = f->len[i];
		v.mv_data = f->buf[i];
		mdb_put(txn, dbi, &k, &v, 0);
		if (i % batch == batch - 1 || i + 1 == f->n)
			mdb_txn_commit(txn);
	}
	t0 = now_s() - t0;
	mdb_env_close(env);
	return t0;
}

/*
 * The second baseline: the same kiosk threads send the same frames, window by window, each
 * window in one write as the hub's kiosks send it (gather), over plain TCP to a server that does only what any durable ingest must: one thread per connection
 * reading length-prefixed frames, one writer committing whatever is queued (up to 512, the
 * hub's group limit) in one durable LMDB transaction of raw puts, then an acknowledgement
 * (a fixed, pre-encoded Ack envelope, decoded by the kiosk as the hub's are). No TLS, no
 * decoding, no decisions, no sealing, no audit log: what Paso adds. The kiosks' own CPU lands
 * on the same two cores as in the hub's run, which the raw-LMDB baseline never pays.
 */
struct plain_item {
	uint8_t *buf;
	uint32_t len;
	int fd;
	struct plain_item *next;
};

struct plain_srv {
	int lfd;
	uint16_t port;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct plain_item *head, *tail;
	int stop;
	MDB_env *env;
	MDB_dbi dbi;
	uint8_t *ack;
	size_t acklen;
	uint64_t groups, items;
	unsigned nconn;
	int conn_fd[MAX_KIOSKS];
	pthread_t conn_th[MAX_KIOSKS];
};

struct plain_conn {
	struct plain_srv *s;
	int fd;
};

static int
full_io(int fd, uint8_t *p, size_t len, int wr)
{
	ssize_t n;

	while (len > 0) {
		n = wr ? write(fd, p, len) : read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *
plain_conn_thread(void *arg)
{
	struct plain_conn *c = arg;
	struct plain_srv *s = c->s;
	struct plain_item *it;
	uint8_t hdr[4];
	uint32_t len;

	while (full_io(c->fd, hdr, 4, 0) == 0) {
		len = be32_get(hdr);
		if (len > FRAME_DEFAULT_MAX || (it = calloc(1, sizeof(*it))) == NULL ||
			(it->buf = malloc(len ? len : 1)) == NULL ||
			full_io(c->fd, it->buf, len, 0) != 0)
			break;
		it->len = len;
		it->fd = c->fd;
		pthread_mutex_lock(&s->mu);
		if (s->tail != NULL)
			s->tail->next = it;
		else
			s->head = it;
		s->tail = it;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
	}
	free(c);
	return NULL;
}

static void *
plain_writer(void *arg)
{
	struct plain_srv *s = arg;
	struct plain_item *list, *it, *next;
	MDB_txn *txn;
	MDB_val k, v;
	uint8_t key[16];
	unsigned n;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (s->head == NULL && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->head == NULL && s->stop) {
			pthread_mutex_unlock(&s->mu);
			return NULL;
		}
		list = s->head;
		for (n = 1, it = list; it->next != NULL && n < 512; n++)
			it = it->next;
		s->head = it->next;
		if (s->head == NULL)
			s->tail = NULL;
		it->next = NULL;
		pthread_mutex_unlock(&s->mu);
		if (mdb_txn_begin(s->env, NULL, 0, &txn) != 0)
			return NULL;
		for (it = list; it != NULL; it = it->next) {
			randombytes_buf(key, sizeof(key));
			k.mv_size = sizeof(key);
			k.mv_data = key;
			v.mv_size = it->len;
			v.mv_data = it->buf;
			(void)mdb_put(txn, s->dbi, &k, &v, 0);
		}
		if (mdb_txn_commit(txn) != 0)
			return NULL;
		s->groups++;
		s->items += n;
		for (it = list; it != NULL; it = next) {
			next = it->next;
			(void)full_io(it->fd, s->ack, s->acklen, 1);
			free(it->buf);
			free(it);
		}
	}
}

static void *
plain_acceptor(void *arg)
{
	struct plain_srv *s = arg;
	struct plain_conn *c;
	int fd, one = 1;

	while (s->nconn < MAX_KIOSKS && (fd = accept(s->lfd, NULL, NULL)) >= 0) {
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if ((c = malloc(sizeof(*c))) == NULL)
			break;
		c->s = s;
		c->fd = fd;
		s->conn_fd[s->nconn] = fd;
		pthread_create(&s->conn_th[s->nconn], NULL, plain_conn_thread, c);
		s->nconn++;
	}
	return NULL;
}

struct plain_sender {
	uint16_t port;
	const struct frames *f;
	size_t from, to;
	unsigned window;
	pthread_barrier_t *ready;
	int rc;
};

static void *
plain_send(void *arg)
{
	struct plain_sender *s = arg;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(s->port)};
	Paso__Envelope *env;
	struct paso_diag d;
	uint8_t hdr[4], *p = NULL, *out = NULL;
	uint32_t len;
	size_t i, j, end, n, cap = 0;
	int fd, one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
		connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		s->rc = -1;
	else
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pthread_barrier_wait(s->ready);
	for (i = s->from; s->rc == 0 && i < s->to; i = end) {
		end = i + s->window < s->to ? i + s->window : s->to;
		if ((n = gather(s->f, i, end, &out, &cap)) == 0 || full_io(fd, out, n, 1) != 0)
			s->rc = -1;
		for (j = i; j < end && s->rc == 0; j++) {
			if ((s->rc = full_io(fd, hdr, 4, 0)) != 0 || (len = be32_get(hdr)) > 4096 ||
				(p = malloc(len ? len : 1)) == NULL ||
				(s->rc = full_io(fd, p, len, 0)) != 0) {
				s->rc = -1;
				break;
			}
			/* The same decoding the kiosks do with the hub's answers. */
			if (frame_decode(p, len, &env, &d) == 0)
				paso__envelope__free_unpacked(env, NULL);
			free(p);
			p = NULL;
		}
	}
	free(p);
	free(out);
	if (fd >= 0)
		close(fd);
	return NULL;
}

/*
 * Runs the plain baseline over f from nk kiosks; returns seconds from every kiosk connected to
 * the last acknowledgement (< 0 on failure), the mean group in *meanp, and the CPU seconds of
 * this whole process (kiosks and server together) in *cpup.
 */
static double
plain_baseline(const char *dir, const struct frames *f, unsigned nk, unsigned window, double *meanp,
	double *cpup)
{
	struct plain_srv s;
	struct plain_sender snd[MAX_KIOSKS];
	pthread_t th[MAX_KIOSKS], acc, wr;
	pthread_barrier_t ready;
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	Paso__Envelope env = PASO__ENVELOPE__INIT;
	Paso__Ack ack = PASO__ACK__INIT;
	uint8_t subject[32] = {0};
	MDB_txn *txn;
	double t0 = -1, c0;
	unsigned k;
	int ok = 1;

	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	env.kiosk_id = kiosks[0];
	env.seq = 1;
	env.body_case = PASO__ENVELOPE__BODY_ACK;
	env.ack = &ack;
	ack.seq = 1;
	ack.subject.data = subject;
	ack.subject.len = sizeof(subject);
	mkdir(dir, 0700);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (frame_encode(&env, FRAME_DEFAULT_MAX, &s.ack, &s.acklen) != 0 ||
		mdb_env_create(&s.env) != 0 || mdb_env_set_mapsize(s.env, (size_t)4 << 30) != 0 ||
		mdb_env_open(s.env, dir, 0, 0600) != 0 ||
		mdb_txn_begin(s.env, NULL, 0, &txn) != 0 ||
		mdb_dbi_open(txn, NULL, 0, &s.dbi) != 0 || mdb_txn_commit(txn) != 0 ||
		(s.lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
		bind(s.lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s.lfd, 128) != 0 ||
		getsockname(s.lfd, (struct sockaddr *)&a, &alen) != 0)
		return -1;
	s.port = ntohs(a.sin_port);
	pthread_create(&acc, NULL, plain_acceptor, &s);
	pthread_create(&wr, NULL, plain_writer, &s);
	pthread_barrier_init(&ready, NULL, nk + 1);
	for (k = 0; k < nk; k++) {
		snd[k] = (struct plain_sender){
			s.port, f, f->n * k / nk, f->n * (k + 1) / nk, window, &ready, 0};
		pthread_create(&th[k], NULL, plain_send, &snd[k]);
	}
	pthread_barrier_wait(&ready);
	t0 = now_s();
	c0 = self_cpu();
	for (k = 0; k < nk; k++) {
		pthread_join(th[k], NULL);
		ok &= snd[k].rc == 0;
	}
	t0 = now_s() - t0;
	*cpup = self_cpu() - c0;
	shutdown(s.lfd, SHUT_RDWR);
	close(s.lfd);
	pthread_join(acc, NULL);
	for (k = 0; k < s.nconn; k++)
		shutdown(s.conn_fd[k], SHUT_RDWR);
	for (k = 0; k < s.nconn; k++) {
		pthread_join(s.conn_th[k], NULL);
		close(s.conn_fd[k]);
	}
	pthread_mutex_lock(&s.mu);
	s.stop = 1;
	pthread_cond_signal(&s.cv);
	pthread_mutex_unlock(&s.mu);
	pthread_join(wr, NULL);
	*meanp = s.groups ? (double)s.items / (double)s.groups : 0;
	mdb_env_close(s.env);
	free(s.ack);
	pthread_barrier_destroy(&ready);
	return ok ? t0 : -1;
}

/* The hub's own objects around the decision layer, opened in-process on a deployment. */
struct direct {
	struct keyring *kr;
	struct vault *v;
	struct policy *pol;
	struct ledger *l;
	struct gallery *g, *recent;
	struct decide_ctx dc;
};

static int
direct_open(const char *hubdir, struct direct *x, struct paso_diag *d)
{
	struct deploy_paths p;
	uint64_t rec;
	int r;

	memset(x, 0, sizeof(*x));
	if ((r = deploy_paths(hubdir, &p, d)) != 0 || (r = keyring_open(p.keys, &x->kr, d)) != 0 ||
		(r = vault_open(hubdir, x->kr, &x->v, d)) != 0 ||
		(r = policy_load_file(p.policy, &x->pol, d)) != 0 ||
		(r = ledger_open(p.audit, x->v, decide_count_keys, COUNT_N, &rec, &x->l, d)) != 0 ||
		(r = gallery_new(2, &x->g)) != 0 || (r = gallery_new(1, &x->recent)) != 0)
		return r;
	x->dc.policy = x->pol;
	x->dc.gallery = x->g;
	x->dc.recent = x->recent;
	x->dc.vault = x->v;
	return 0;
}

static void
direct_close(struct direct *x)
{
	gallery_free(x->g);
	gallery_free(x->recent);
	ledger_close(x->l);
	policy_free(x->pol);
	vault_close(x->v);
	keyring_close(x->kr);
}

/*
 * The decision layer without a server: each frame prepared (decode, validate, templates) and
 * decided, groups of batch committed durably through the ledger, as the commit loop does.
 */
static double
decide_direct(struct direct *x, const struct frames *f, unsigned batch, uint64_t *refused)
{
	struct decide_msg *m = calloc(batch, sizeof(*m));
	struct ledger_txn *t = NULL;
	struct decide_undo undo = {0};
	double t0 = now_s();
	size_t i, j, end;

	if (m == NULL)
		return -1;
	for (i = 0; i < f->n; i = end) {
		end = i + batch < f->n ? i + batch : f->n;
		for (j = i; j < end; j++)
			if (decide_prepare(&x->dc, kiosks[f->kiosk[j]], f->buf[j] + 4,
				    f->len[j] - 4, NULL, &m[j - i]) != 0)
				return -1;
		if (ledger_begin(x->l, &t) != 0)
			return -1;
		for (j = i; j < end; j++)
			if (decide_message(&x->dc, t, (uint64_t)time(NULL), &m[j - i], &undo) != 0)
				return -1;
		if (ledger_commit(t) != 0)
			return -1;
		decide_undo(&x->dc, &undo, 0);
		for (j = i; j < end; j++) {
			if (m[j - i].reply != NULL && m[j - i].reply_len > 4 &&
				m[j - i].err.code == 0) {
				Paso__Envelope *env = NULL;
				struct paso_diag d;

				if (frame_decode(m[j - i].reply + 4, m[j - i].reply_len - 4, &env,
					    &d) == 0) {
					if (env->body_case != PASO__ENVELOPE__BODY_ACK) {
						(*refused)++;
						count_refusal(env);
					}
					paso__envelope__free_unpacked(env, NULL);
				}
			} else
				(*refused)++;
			decide_msg_clear(&m[j - i]);
		}
	}
	free(m);
	return now_s() - t0;
}

/*
 * The hub's mean commit-group size in the run just stopped, from the last line it logs
 * ("stopped: A accepted, R refused, P resends in G commit groups"); 64 if it cannot be read.
 */
static unsigned
hub_group_size(const char *portfile)
{
	char log[1200], line[512];
	unsigned long long a, rf, p, g;
	unsigned best = 64;
	const char *x;
	FILE *f;

	(void)snprintf(log, sizeof(log), "%s.log", portfile);
	if ((f = fopen(log, "r")) == NULL)
		return best;
	while (fgets(line, sizeof(line), f) != NULL)
		if ((x = strstr(line, "stopped: ")) != NULL &&
			sscanf(x, "stopped: %llu accepted, %llu refused, %llu resends in %llu", &a,
				&rf, &p, &g) == 4 &&
			g > 0)
			best = (unsigned)((a + rf + p + g / 2) / g);
	fclose(f);
	return best ? best : 1;
}

static pid_t
start_hub(const char *hubdir, const char *bindir, const char *portfile, uint16_t *port)
{
	char prog[1024], *txt = NULL, log[1200];
	const char *argv[] = {
		"paso-hub", "serve", hubdir, "--port", "0", "--port-file", portfile, NULL};
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int i;
	FILE *f;

	(void)snprintf(prog, sizeof(prog), "%s/paso-hub", bindir);
	(void)snprintf(log, sizeof(log), "%s.log", portfile);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	unlink(portfile);
	if (posix_spawn(&pid, prog, &fa, NULL, (char *const *)argv, environ) != 0)
		return -1;
	posix_spawn_file_actions_destroy(&fa);
	for (i = 0; i < 3000; i++) {
		if ((f = fopen(portfile, "r")) != NULL) {
			unsigned p = 0;
			if (fscanf(f, "%u", &p) == 1)
				*port = (uint16_t)p;
			fclose(f);
			free(txt);
			return pid;
		}
		usleep(10000);
	}
	kill(pid, SIGKILL);
	return -1;
}

static void
usage(void)
{
	fprintf(stderr,
		"usage: bench_ingest [--people N] [--crossings N] [--kiosks K<=64] [--runs R]\n"
		"                    [--window W] [--bin DIR] [--dir DIR]\n");
}

int
main(int argc, char **argv)
{
	unsigned people = 2000, crossings = 6000, nk = 5, runs = 3, window = 32, r, k;
	const char *bindir = "build/bin", *base = "/var/tmp";
	double te[16], tc[16], tb[16], tbe[16], tde[16], tdc[16];
	unsigned batch[16], batch_e[16];
	double kcpu[16], hcpu[16], bcpu[16], kc0, hc0, tp[16], pmean[16], pcpu[16], rp[16], cr[16],
		kf[16];
	struct frames enrol = {0}, cross = {0};
	struct population *pop = NULL;
	char root[1024], hubdir[1100], portfile[1100], rawdir[1100], rawdir2[1100], cmd[2400];
	struct paso_diag d = {0};
	uint64_t refused = 0;
	uint16_t port = 0;
	pid_t hub;
	int i;

	for (i = 1; i < argc; i++) {
		unsigned *dst = NULL;
		char *end;
		unsigned long v;

		if (i + 1 >= argc) {
			usage();
			return 2;
		}
		if (strcmp(argv[i], "--bin") == 0) {
			bindir = argv[++i];
			continue;
		}
		if (strcmp(argv[i], "--dir") == 0) {
			base = argv[++i];
			continue;
		}
		if (strcmp(argv[i], "--people") == 0)
			dst = &people;
		else if (strcmp(argv[i], "--crossings") == 0)
			dst = &crossings;
		else if (strcmp(argv[i], "--kiosks") == 0)
			dst = &nk;
		else if (strcmp(argv[i], "--runs") == 0)
			dst = &runs;
		else if (strcmp(argv[i], "--window") == 0)
			dst = &window;
		else {
			usage();
			return 2;
		}
		errno = 0;
		v = strtoul(argv[++i], &end, 10);
		if (errno || *end || v == 0 || v > 10000000 || (dst == &nk && v > MAX_KIOSKS) ||
			(dst == &runs && v > 16) || (dst == &window && v > 64)) {
			fprintf(stderr, "bench_ingest: %s: out of range: '%s'\n", argv[i - 1],
				argv[i]);
			return 2;
		}
		*dst = (unsigned)v;
	}
	if (sodium_init() < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	for (k = 0; k < MAX_KIOSKS; k++)
		(void)snprintf(kiosks[k], sizeof(kiosks[k]), "bench-kiosk-%02u", k);
	printf("bench_ingest: %u people, %u crossings, %u kiosks, window %u, %u runs\n", people,
		crossings, nk, window, runs);
	if (population_new(42, people, &pop) != 0 ||
		make_frames(pop, people, crossings, nk, &enrol, &cross) != 0) {
		fprintf(stderr, "bench_ingest: cannot make the traffic\n");
		return 1;
	}
	printf("  frames: enrolment %.0f bytes, crossing %.0f bytes on average\n",
		(double)enrol.bytes / enrol.n, (double)cross.bytes / cross.n);
	for (r = 0; r < runs; r++) {
		(void)snprintf(
			root, sizeof(root), "%s/paso-bench-ingest-%d-%u", base, (int)getpid(), r);
		(void)snprintf(hubdir, sizeof(hubdir), "%s/hub", root);
		(void)snprintf(portfile, sizeof(portfile), "%s/port", root);
		(void)snprintf(rawdir, sizeof(rawdir), "%s/raw", root);
		(void)snprintf(rawdir2, sizeof(rawdir2), "%s/raw2", root);
		mkdir(root, 0700);
		if (deploy_init(hubdir, "bench", NULL, &d) != 0) {
			fprintf(stderr, "bench_ingest: %s\n", d.msg);
			return 1;
		}
		for (k = 0; k < nk; k++)
			if (deploy_issue_kiosk(hubdir, kiosks[k], &d) != 0) {
				fprintf(stderr, "bench_ingest: %s\n", d.msg);
				return 1;
			}
		/*
		 * One hub session per phase, so each phase's baseline batches as the hub's commit
		 * loop did in that phase of this very run (a mean over both would mix the
		 * enrolments' groups into the crossings'). The restart in between loads the
		 * gallery; it is not timed.
		 */
		(void)snprintf(portfile, sizeof(portfile), "%s/port-enrol", root);
		if ((hub = start_hub(hubdir, bindir, portfile, &port)) < 0) {
			fprintf(stderr, "bench_ingest: paso-hub did not start (see %s.log)\n",
				portfile);
			return 1;
		}
		te[r] = send_all(hubdir, port, &enrol, nk, window, &refused, hub, &kc0, &hc0);
		kill(hub, SIGTERM);
		waitpid(hub, NULL, 0);
		batch_e[r] = hub_group_size(portfile);
		(void)snprintf(portfile, sizeof(portfile), "%s/port-cross", root);
		if ((hub = start_hub(hubdir, bindir, portfile, &port)) < 0) {
			fprintf(stderr, "bench_ingest: paso-hub did not start (see %s.log)\n",
				portfile);
			return 1;
		}
		/* Where the two cores went while crossings streamed: the hub, or the kiosks. */
		tc[r] = send_all(
			hubdir, port, &cross, nk, window, &refused, hub, &kcpu[r], &hcpu[r]);
		kill(hub, SIGTERM);
		waitpid(hub, NULL, 0);
		batch[r] = hub_group_size(portfile);
		kc0 = self_cpu();
		tb[r] = raw_lmdb(rawdir2, &cross, batch[r]);
		bcpu[r] = self_cpu() - kc0;
		(void)snprintf(rawdir, sizeof(rawdir), "%s/plain", root);
		if ((tp[r] = plain_baseline(rawdir, &cross, nk, window, &pmean[r], &pcpu[r])) <=
			0) {
			fprintf(stderr, "bench_ingest: the plain-TCP baseline failed\n");
			return 1;
		}
		(void)snprintf(rawdir, sizeof(rawdir), "%s/raw", root);
		tbe[r] = raw_lmdb(rawdir, &enrol, batch_e[r]);
		{
			char hub2[1200];
			struct direct x;

			(void)snprintf(hub2, sizeof(hub2), "%s/hub2", root);
			if (deploy_init(hub2, "bench", NULL, &d) != 0 ||
				direct_open(hub2, &x, &d) != 0) {
				fprintf(stderr, "bench_ingest: %s\n", d.msg);
				return 1;
			}
			tde[r] = decide_direct(&x, &enrol, 512, &refused);
			tdc[r] = decide_direct(&x, &cross, 512, &refused);
			direct_close(&x);
			if (tde[r] <= 0 || tdc[r] <= 0) {
				fprintf(stderr, "bench_ingest: the decision layer failed\n");
				return 1;
			}
		}
		printf("  run %u: enrol %.0f/s, crossings %.0f/s | raw LMDB (batches of %u and %u, the "
		       "hub's mean groups) %.0f/s, %.0f/s | decisions without a server %.0f/s, "
		       "%.0f/s\n",
			r + 1, enrol.n / te[r], cross.n / tc[r], batch_e[r], batch[r],
			enrol.n / tbe[r], cross.n / tb[r], enrol.n / tde[r], cross.n / tdc[r]);
		printf("         crossings' CPU: hub %.2f s, kiosk simulator %.2f s (%.0f%% of the "
		       "two; %.0f%% of 2 cores' wall time); raw LMDB %.2f s CPU in %.2f s\n",
			hcpu[r], kcpu[r], 100 * kcpu[r] / (hcpu[r] + kcpu[r]),
			100 * (hcpu[r] + kcpu[r]) / (2 * tc[r]), bcpu[r], tb[r]);
		printf("         plain TCP + raw LMDB, same kiosks: %.0f/s (groups of %.0f), %.2f s CPU "
		       "with its kiosks; hub/plain %.3f\n",
			cross.n / tp[r], pmean[r], pcpu[r], tp[r] / tc[r]);
		(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_ingest: could not remove %s\n", root);
	}
	/* Per-run ratios first: median() sorts what it is given. */
	for (r = 0; r < runs; r++) {
		rp[r] = tp[r] / tc[r];
		cr[r] = tb[r] / tc[r];
		kf[r] = kcpu[r] / (hcpu[r] + kcpu[r]);
	}
	{
		double e = enrol.n / median(te, (int)runs), c = cross.n / median(tc, (int)runs);
		double be = enrol.n / median(tbe, (int)runs), bc = cross.n / median(tb, (int)runs);

		printf("median over %u runs (durable, TLS, %u kiosks):\n", runs, nk);
		printf("  enrolments: %8.0f/s   raw LMDB same records: %8.0f/s   ratio %.3f\n", e,
			be, e / be);
		printf("  crossings:  %8.0f/s   raw LMDB same records: %8.0f/s   ratio %.3f (target >= 0.35)\n",
			c, bc, c / bc);
		{
			printf("  crossings:  %8.0f/s   plain TCP + raw LMDB, same kiosks: %8.0f/s   "
			       "ratio %.3f\n",
				c, cross.n / median(tp, (int)runs), median(rp, (int)runs));
			printf("  per-run crossing ratios vs raw LMDB:");
			for (r = 0; r < runs; r++)
				printf(" %.3f", cr[r]);
			printf("; the kiosks' share of the CPU used in the hub runs: median %.0f%%\n",
				100 * median(kf, (int)runs));
		}
		{
			double de = enrol.n / median(tde, (int)runs),
			       dcr = cross.n / median(tdc, (int)runs);

			printf("decision layer without a server (prepare + decide + durable ledger "
			       "groups of 512, one thread):\n");
			printf("  enrolments: %8.0f/s   vs TLS path %8.0f/s   ratio %.2f\n", de, e,
				de / e);
			printf("  crossings:  %8.0f/s   vs TLS path %8.0f/s   ratio %.2f\n", dcr, c,
				dcr / c);
		}
		if (refused) {
			int code;

			printf("  note: %llu messages refused:", (unsigned long long)refused);
			for (code = 0; code < 128; code++)
				if (refused_by_code[code])
					printf(" %s x%llu", paso_errname(-code),
						refused_by_code[code]);
			printf("\n");
		}
	}
	population_free(pop);
	return 0;
}
