/* SPDX-License-Identifier: Apache-2.0 */
/* paso-hub: create a deployment, issue kiosk certificates, serve, and report what is stored. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "checkpoint.h"
#include "control.h"
#include "cosign.h"
#include "deploy.h"
#include "durable.h"
#include "frame.h"
#include "instant.h"
#include "hub.h"
#include "keyring.h"
#include "paso.pb-c.h"
#include "peer.h"
#include "pki.h"
#include "tls.h"
#include "hex.h"
#include "sample_pb.h"
#include <time.h>
#include "policy.h"
#include "retention.h"
#include "share.h"
#include "vault.h"
#include "witness.h"

static volatile sig_atomic_t stop_flag, reload_flag;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_flag = 1;
	else
		stop_flag = 1;
}

/* paso-hub serve's default finger cache as text, for the usage lines: the value itself. */
#define HUB_STR_(x) #x
#define HUB_STR(x) HUB_STR_(x)
#define FINGER_CACHE_MB_TEXT HUB_STR(HUB_FINGER_CACHE_MB)

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: paso-hub COMMAND ...\n"
		"  init DIR [--name NAME] [--policy FILE] [--role national|partner]\n"
		"                                           create a deployment (CA, keys, store, audit log);\n"
		"                                           a partner is a receiving agency with its own keys\n"
		"  partner add DIR --name PEER --ca FILE    trust deployment PEER (its ca/ca.crt, exchanged at\n"
		"                                           setup) and issue our certificate for links to it\n"
		"  query DIR --hub HOST:PORT --purpose P --probe FILE [--peer NAME]\n"
		"                                           (partner) ask the national hub: hit or no hit?\n"
		"                                           exit 0 hit, 3 no hit, 4 refused, 1 error, 2 usage\n"
		"  query DIR --hub HOST:PORT --purpose P --probes SET [--connections N] [--peer NAME]\n"
		"                                           (partner) every probe of a set (paso-kiosk probe\n"
		"                                           --list) over N links (default 4): a line each;\n"
		"                                           exit 0 when all were answered, 1 otherwise\n"
		"  witness key DIR                          print this hub's witness key (created once)\n"
		"  witness log DIR --vkey FILE|KEY          witness that log (its audit/log.vkey)\n"
		"  witness add DIR --name N --url URL --vkey FILE|KEY\n"
		"                                           send each checkpoint to witness N and\n"
		"                                           publish its cosignature (DIR/witnesses)\n"
		"  release DIR --hub HOST:PORT --case TOKEN --purpose P [--peer NAME]\n"
		"                                           (partner) after a hit, ask for the record behind\n"
		"                                           the case token; it arrives on the share link\n"
		"                                           exit 0 accepted, 4 refused, 1 error, 2 usage\n"
		"  issue DIR --kiosk NAME                   issue a kiosk certificate into DIR/kiosks/\n"
		"  revoke DIR --kiosk NAME                  refuse that kiosk from now on\n"
		"  serve DIR [--host ADDR] [--port N] [--port-file F] [--max-frame BYTES] [--batch N]\n"
		"        [--clock real|sim|sim:INSTANT] [--capture-window DURATION]\n"
		"        [--fingers memory|store] [--finger-cache-mb N] [--dedup-nice N]\n"
		"        [--handshake-timeout MS] [--frame-timeout MS] [--idle-timeout MS]\n"
		"        [--max-unauth N] [--max-per-kiosk N] [--max-kiosks N]\n"
		"                                           connection limits (defaults 10000, 10000,\n"
		"                                           300000 ms; 1024, 8, 256)\n"
		"        [--peer-port N] [--peer-port-file F]\n"
		"        [--witness-listen HOST:PORT] [--witness-port-file F]\n"
		"                                           also answer tlog-witness add-checkpoint\n"
		"                                           for the logs DIR/witness/logs names\n"
		"                                           serve kiosks (TLS 1.3, client certificates);\n"
		"                                           a simulated clock moves only by `clock`;\n"
		"                                           --fingers store keeps finger templates\n"
		"                                           sealed, opened per comparison (audited);\n"
		"                                           --finger-cache-mb N: the opened ones kept\n"
		"                                           in memory (default " FINGER_CACHE_MB_TEXT
		"), 0 = none\n"
		"                                           --dedup-nice 0..19 (default 19): niceness of\n"
		"                                           enrolment deduplication, 0 = the hub's own\n"
		"  clock DIR [--advance DURATION | --set INSTANT]\n"
		"                                           show or move a running hub's simulated clock\n"
		"                                           (e.g. --advance 400d, --set 2028-06-01T00:00:00Z)\n"
		"  stats DIR [--json] [--recount]           what the store holds, from its counters, and by\n"
		"                                           expiry year; --recount opens every sealed record\n"
		"                                           to check them (audited; the hub must be stopped)\n"
		"  sweep DIR --dry-run                      what the retention sweep would erase now (asks\n"
		"                                           the running hub, else reads the store offline)\n"
		"  reload DIR                               the running hub reads DIR/policy.yaml again\n"
		"                                           (also on SIGHUP; audited; a bad file changes nothing)\n"
		"  protect DIR --renew                      the running hub makes a new template protection\n"
		"                                           key; references are renewed at each person's next\n"
		"                                           crossing, then the old key is destroyed (audited)\n"
		"  policy FILE                              validate a policy file and print its effective values\n");
}

static int
fail(const char *cmd, const struct paso_diag *d, int code)
{
	fprintf(stderr, "paso-hub %s: error %s (%d): %s\n", cmd, paso_errname(code), code,
		d->msg[0] ? d->msg : paso_strerror(code));
	return code == PASO_E_USAGE ? 2 : 1;
}

static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "paso-hub %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	return 2;
}

/* strtoul with end and range checks. */
static int
parse_u32(const char *s, unsigned long lo, unsigned long hi, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int
cmd_init(int argc, char **argv)
{
	struct paso_diag d = {0};
	const char *dir = NULL, *name = "inm", *policy = NULL;
	enum peer_role role = PEER_ROLE_NATIONAL;
	int i, r;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
			name = argv[++i];
		else if (strcmp(argv[i], "--role") == 0 && i + 1 < argc) {
			i++;
			if (strcmp(argv[i], "partner") == 0)
				role = PEER_ROLE_PARTNER;
			else if (strcmp(argv[i], "national") != 0)
				return usage_error("init",
					"--role: 'national' or 'partner', not '%s'", argv[i]);
		} else if (strcmp(argv[i], "--policy") == 0 && i + 1 < argc)
			policy = argv[++i];
		else if (argv[i][0] != '-' && dir == NULL)
			dir = argv[i];
		else
			return usage_error("init", "unexpected argument '%s'", argv[i]);
	}
	if (dir == NULL)
		return usage_error("init", "%s", "missing DIR");
	if ((r = deploy_init(dir, name, policy, &d)) != 0)
		return fail("init", &d, r);
	if (role == PEER_ROLE_PARTNER && (r = peer_set_role(dir, role, &d)) != 0)
		return fail("init", &d, r);
	printf("%s deployment '%s' created in %s\n"
	       "  CA and hub certificate: %s/ca, %s/hub (private keys 0600)\n"
	       "  keyring: %s/keys (pseudonym and card-index keys now, key-encryption keys one per\n"
	       "           kind of record and day as records need them; 0600)\n"
	       "  audit log: %s/audit (public key %s/audit/log.vkey)\n"
	       "  policy: %s/policy.yaml\n",
		role == PEER_ROLE_PARTNER ? "partner" : "national", name, dir, dir, dir, dir, dir,
		dir, dir);
	return 0;
}

/* issue and revoke: DIR --kiosk NAME, then the deployment call. */
static int
cmd_kiosk(int argc, char **argv, int (*act)(const char *, const char *, struct paso_diag *),
	const char *done)
{
	struct paso_diag d = {0};
	const char *cmd = argv[0], *dir = NULL, *kiosk = NULL;
	int i, r;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--kiosk") == 0 && i + 1 < argc)
			kiosk = argv[++i];
		else if (argv[i][0] != '-' && dir == NULL)
			dir = argv[i];
		else
			return usage_error(cmd, "unexpected argument '%s'", argv[i]);
	}
	if (dir == NULL || kiosk == NULL)
		return usage_error(cmd, "%s", "needs DIR and --kiosk NAME");
	if ((r = act(dir, kiosk, &d)) != 0)
		return fail(cmd, &d, r);
	printf("kiosk '%s' %s\n", kiosk, done);
	return 0;
}

/* Writes "PORT\n" to path durably and atomically. 0 or a PASO_E_* code with d set. */
static int
write_port_file(const char *path, unsigned port, struct paso_diag *d)
{
	char text[16];
	int n = snprintf(text, sizeof(text), "%u\n", port);

	return durable_write(path, text, (size_t)n, 0644, DURABLE_REPLACE, d);
}

static int
cmd_serve(int argc, char **argv)
{
	struct hub_config cfg;
	struct paso_diag d = {0};
	struct hub *h = NULL;
	struct sigaction sa;
	const char *portfile = NULL, *peerportfile = NULL, *witportfile = NULL;
	char whost[256], wport[8];
	uint32_t v;
	int i, r;

	memset(&cfg, 0, sizeof(cfg));
	cfg.dedup_nice = 19;
	cfg.finger_cache_bytes = (size_t)HUB_FINGER_CACHE_MB << 20;
	/* Handshakes cost a descriptor each: as many as the hard limit allows. */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
			cfg.host = argv[++i];
		else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
			if (parse_u32(argv[++i], 0, 65535, &v) != 0)
				return usage_error(
					"serve", "--port: not a port 0..65535: '%s'", argv[i]);
			cfg.port = (uint16_t)v;
		} else if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc)
			portfile = argv[++i];
		else if (strcmp(argv[i], "--peer-port") == 0 && i + 1 < argc) {
			if (parse_u32(argv[++i], 0, 65535, &v) != 0)
				return usage_error(
					"serve", "--peer-port: not a port 0..65535: '%s'", argv[i]);
			cfg.peer_port = (uint16_t)v;
		} else if (strcmp(argv[i], "--peer-port-file") == 0 && i + 1 < argc)
			peerportfile = argv[++i];
		else if (strcmp(argv[i], "--witness-listen") == 0 && i + 1 < argc) {
			const char *a = argv[++i], *c = strrchr(a, ':');

			if (c == NULL || c == a || (size_t)(c - a) >= sizeof(whost) ||
				parse_u32(c + 1, 0, 65535, &v) != 0)
				return usage_error("serve",
					"--witness-listen: expected HOST:PORT (port 0..65535): '%s'",
					a);
			memcpy(whost, a, (size_t)(c - a));
			whost[c - a] = '\0';
			(void)snprintf(wport, sizeof(wport), "%u", (unsigned)v);
			cfg.witness_host = whost;
			cfg.witness_port = wport;
		} else if (strcmp(argv[i], "--witness-port-file") == 0 && i + 1 < argc)
			witportfile = argv[++i];
		else if (strcmp(argv[i], "--max-frame") == 0 && i + 1 < argc) {
			if (parse_u32(argv[++i], 1024, 64u << 20, &cfg.max_frame) != 0)
				return usage_error("serve",
					"--max-frame: 1024..67108864 bytes: '%s'", argv[i]);
		} else if (strcmp(argv[i], "--handshake-timeout") == 0 && i + 1 < argc) {
			if (parse_u32(argv[++i], 100, 600000, &v) != 0)
				return usage_error("serve",
					"--handshake-timeout: 100..600000 ms: '%s'", argv[i]);
			cfg.handshake_ms = (int)v;
		} else if (strcmp(argv[i], "--frame-timeout") == 0 && i + 1 < argc) {
			if (parse_u32(argv[++i], 100, 600000, &v) != 0)
				return usage_error(
					"serve", "--frame-timeout: 100..600000 ms: '%s'", argv[i]);
			cfg.frame_ms = (int)v;
		} else if (strcmp(argv[i], "--idle-timeout") == 0 && i + 1 < argc) {
			if (parse_u32(argv[++i], 100, 86400000, &v) != 0)
				return usage_error(
					"serve", "--idle-timeout: 100..86400000 ms: '%s'", argv[i]);
			cfg.idle_ms = (int)v;
		} else if (strcmp(argv[i], "--max-unauth") == 0 && i + 1 < argc) {
			if (parse_u32(argv[++i], 4, 65536, &cfg.max_unauth) != 0)
				return usage_error(
					"serve", "--max-unauth: 4..65536: '%s'", argv[i]);
		} else if (strcmp(argv[i], "--max-per-kiosk") == 0 && i + 1 < argc) {
			if (parse_u32(argv[++i], 1, 4096, &cfg.max_per_kiosk) != 0)
				return usage_error(
					"serve", "--max-per-kiosk: 1..4096: '%s'", argv[i]);
		} else if (strcmp(argv[i], "--max-kiosks") == 0 && i + 1 < argc) {
			if (parse_u32(argv[++i], 1, 65536, &cfg.max_conns) != 0)
				return usage_error(
					"serve", "--max-kiosks: 1..65536: '%s'", argv[i]);
		} else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
			if (parse_u32(argv[++i], 1, 65536, &v) != 0)
				return usage_error("serve", "--batch: 1..65536: '%s'", argv[i]);
			cfg.batch_max = v;
		} else if (strcmp(argv[i], "--clock") == 0 && i + 1 < argc) {
			if (clock_parse_spec(argv[++i], &cfg.clock, &cfg.clock_resume, &d) != 0)
				return usage_error("serve", "%s", d.msg);
		} else if (strcmp(argv[i], "--fingers") == 0 && i + 1 < argc) {
			i++;
			if (strcmp(argv[i], "memory") == 0)
				cfg.fingers_in_store = 0;
			else if (strcmp(argv[i], "store") == 0)
				cfg.fingers_in_store = 1;
			else
				return usage_error(
					"serve", "--fingers: memory or store: '%s'", argv[i]);
		} else if (strcmp(argv[i], "--finger-cache-mb") == 0 && i + 1 < argc) {
			if (parse_u32(argv[++i], 0, 1048576, &v) != 0)
				return usage_error(
					"serve", "--finger-cache-mb: 0..1048576: '%s'", argv[i]);
			cfg.finger_cache_bytes = (size_t)v << 20;
		} else if (strcmp(argv[i], "--dedup-nice") == 0 && i + 1 < argc) {
			if (parse_u32(argv[++i], 0, 19, &v) != 0)
				return usage_error("serve", "--dedup-nice: 0..19: '%s'", argv[i]);
			cfg.dedup_nice = (int)v;
		} else if (strcmp(argv[i], "--capture-window") == 0 && i + 1 < argc) {
			if (duration_parse(argv[++i], &cfg.capture_window, &d) != 0 ||
				cfg.capture_window == 0)
				return usage_error("serve", "--capture-window: %s",
					d.code ? d.msg : "must be longer than 0s");
		} else if (argv[i][0] != '-' && cfg.dir == NULL)
			cfg.dir = argv[i];
		else
			return usage_error("serve", "unexpected argument '%s'", argv[i]);
	}
	if (cfg.dir == NULL)
		return usage_error("serve", "%s", "missing DIR");
	/* Test hook for the crash-in-a-sweep test (see hub.h); no policy depends on it. */
	cfg.test_crash_after_sweep = getenv("PASO_HUB_TEST_CRASH_AFTER_SWEEP") != NULL;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	cfg.reload = &reload_flag;
	signal(SIGPIPE, SIG_IGN);
	/* Certificates and the signing key first: a damaged one is named before any record is
	 * opened (and before the opening is audited). */
	{
		struct deploy_paths p;

		if ((r = deploy_paths(cfg.dir, &p, &d)) != 0 || (r = deploy_check(&p, &d)) != 0)
			return fail("serve", &d, r);
	}
	if ((r = hub_open(&cfg, &h, &d)) != 0)
		return fail("serve", &d, r);
	/* Serving before the port files say so: whoever waits for them can use the control socket. */
	if ((r = hub_start(h)) != 0) {
		hub_close(h);
		d.msg[0] = '\0';
		return fail("serve", &d, r);
	}
	if (portfile != NULL && (r = write_port_file(portfile, hub_port(h), &d)) != 0) {
		hub_close(h);
		return fail("serve", &d, r);
	}
	if (peerportfile != NULL &&
		(r = write_port_file(peerportfile, hub_peer_port(h), &d)) != 0) {
		hub_close(h);
		return fail("serve", &d, r);
	}
	if (witportfile != NULL &&
		(r = write_port_file(witportfile, hub_witness_port(h), &d)) != 0) {
		hub_close(h);
		return fail("serve", &d, r);
	}
	if (hub_witness_port(h) != 0)
		printf("paso-hub witness on http://%s:%u/ (add-checkpoint)\n", cfg.witness_host,
			hub_witness_port(h));
	if (hub_peer_port(h) != 0)
		printf("paso-hub peer link on %s:%u\n", cfg.host ? cfg.host : "127.0.0.1",
			hub_peer_port(h));
	printf("paso-hub listening on %s:%u\n", cfg.host ? cfg.host : "127.0.0.1", hub_port(h));
	fflush(stdout);
	r = hub_run(h, &stop_flag);
	hub_close(h);
	if (r != 0) {
		d.msg[0] = '\0';
		return fail("serve", &d, r);
	}
	return 0;
}

struct count {
	uint64_t subjects, crossings, with_finger, with_face, with_iris, by_cat[5];
	struct vault_txn *t; /* set while recounting */
};

static int
count_event(void *arg, uint64_t no, const uint8_t *ev, size_t len)
{
	struct count *c = arg;
	Paso__CrossingEvent *e;

	(void)no;
	if ((e = paso__crossing_event__unpack(frame_allocator(), len, ev)) == NULL)
		return PASO_E_CORRUPT;
	c->crossings++;
	paso__crossing_event__free_unpacked(e, frame_allocator());
	return 0;
}

static int
count_kept_crossing(void *arg, uint32_t epoch, const uint8_t *rest, size_t restlen,
	const uint8_t *ev, size_t len)
{
	(void)epoch;
	(void)rest;
	(void)restlen;
	return count_event(arg, 0, ev, len);
}

static int
count_one(void *arg, const uint8_t id[VAULT_ID_BYTES], const uint8_t *rec, size_t len)
{
	struct count *c = arg;
	Paso__SubjectRecord *sr;
	uint64_t n;
	int r;

	if ((sr = paso__subject_record__unpack(frame_allocator(), len, rec)) == NULL)
		return PASO_E_CORRUPT;
	c->subjects++;
	/* Crossings sealed with the subject (older stores); those kept under their own epochs
	 * are counted apart, since they outlive their subject's erasure. */
	if ((r = vault_event_count(c->t, id, &n)) != 0) {
		paso__subject_record__free_unpacked(sr, frame_allocator());
		return r;
	}
	c->crossings += n;
	if (sr->category >= 1 && sr->category <= 4)
		c->by_cat[sr->category]++;
	{
		const Paso__Capture *t = sr->templates;
		const Paso__ProtectedTemplates *p = sr->protected_templates;

		/* a modality is held raw or protected, never both */
		c->with_finger +=
			(t != NULL && t->finger_record.len > 0) || (p != NULL && p->n_finger > 0);
		c->with_face += (t != NULL && t->face != NULL) || (p != NULL && p->face.len > 0);
		c->with_iris += (t != NULL && t->n_iris > 0) || (p != NULL && p->n_iris > 0);
	}
	paso__subject_record__free_unpacked(sr, frame_allocator());
	return 0;
}

/* The counters the hub keeps beside the records (no sealed record is opened). */
static int
read_counters(struct vault_txn *t, struct count *c, uint64_t *idents)
{
	const char *keys[] = {"count.subjects", "count.crossings", "count.with_finger",
		"count.with_face", "count.with_iris", "count.regional_visitor",
		"count.border_worker", "count.migrant_in_transit", "count.detainee",
		"count.identifications"};
	uint64_t *dst[] = {&c->subjects, &c->crossings, &c->with_finger, &c->with_face,
		&c->with_iris, &c->by_cat[1], &c->by_cat[2], &c->by_cat[3], &c->by_cat[4], idents};
	size_t i;
	int r;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if ((r = vault_meta_get(t, keys[i], dst[i])) != 0 && r != PASO_E_NOT_FOUND)
			return r;
	return 0;
}

struct years {
	unsigned year[64];
	uint64_t n[64];
	size_t count, more; /* more: years past the 64 shown */
};

static int
year_add(void *arg, unsigned year, uint64_t n)
{
	struct years *y = arg;

	if (y->count == 64) {
		y->more++;
		return 0;
	}
	y->year[y->count] = year;
	y->n[y->count++] = n;
	return 0;
}

/*
 * stats: what the store holds, from the counters kept in the same transactions as the records.
 * --recount opens every sealed record to count again (an audited read of every record, so it
 * needs the hub stopped) and fails if the counters disagree.
 */
static int
cmd_stats(int argc, char **argv)
{
	struct paso_diag d = {0}, pd = {0};
	struct deploy_paths p;
	struct keyring *kr = NULL;
	struct policy *pol = NULL;
	struct vault *v = NULL;
	struct vault_txn *t = NULL;
	struct vault_options vopt = {0};
	struct vault_stats vs;
	struct count c, rc;
	struct years y;
	uint64_t idents = 0, pending = 0;
	const char *dir = NULL;
	size_t k;
	int i, r, json = 0, recount = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--recount") == 0)
			recount = 1;
		else if (argv[i][0] != '-' && dir == NULL)
			dir = argv[i];
		else
			return usage_error("stats", "unexpected argument '%s'", argv[i]);
	}
	if (dir == NULL)
		return usage_error("stats", "%s", "missing DIR");
	memset(&c, 0, sizeof(c));
	memset(&rc, 0, sizeof(rc));
	memset(&y, 0, sizeof(y));
	if ((r = deploy_paths(dir, &p, &d)) != 0)
		goto out;
	/* Expiry years follow the policy in force; a file that does not load (a running hub
	 * keeps its last good one) leaves them unknown, the rest of the statistics stand. */
	if (policy_load_file(p.policy, &pol, &pd) != 0 && recount) {
		d = pd;
		r = pd.code;
		goto out;
	}
	/* Counters only: the rows' shapes are not walked (the hub checks them at each start);
	 * --recount opens every record, so it checks them first. */
	vopt.no_check = !recount;
	if ((r = keyring_open(p.keys, &kr, &d)) != 0 ||
		(r = vault_open_opts(dir, kr, &vopt, &v, &d)) != 0)
		goto out;
	if ((r = vault_begin(v, 1, &t)) != 0 || (r = vault_stats(t, &vs)) != 0 ||
		(r = share_pending(t, &pending)) != 0 || (r = read_counters(t, &c, &idents)) != 0 ||
		(pol != NULL && (r = retention_by_year(t, pol, year_add, &y)) != 0))
		goto out;
	if (recount) {
		const Paso__Action act = PASO__ACTION__RECORD_READ;
		char detail[160];
		const char *details[1] = {detail};

		/* The read is logged durably before the first record is opened: a read that
		 * cannot be logged does not happen. */
		vault_abort(t);
		t = NULL;
		(void)snprintf(detail, sizeof(detail),
			"recount: opening all %llu sealed subject records to count them",
			(unsigned long long)c.subjects);
		if ((r = deploy_audit_offline(
			     &p, v, policy_digest(pol), "statistics", &act, details, 1, &d)) != 0)
			goto out;
		if ((r = vault_begin(v, 1, &t)) != 0)
			goto out;
		rc.t = t;
		if ((r = vault_subject_foreach(t, count_one, &rc)) != 0 ||
			(r = vault_kept_foreach(t, VAULT_EPOCH(POLICY_REC_CROSSING, 0),
				 VAULT_EPOCH(POLICY_REC_CROSSING, VAULT_EPOCH_DAY_MASK) + 1,
				 count_kept_crossing, &rc)) != 0)
			goto out;
		rc.t = NULL;
		if (rc.subjects != c.subjects || rc.crossings != c.crossings ||
			rc.with_finger != c.with_finger || rc.with_face != c.with_face ||
			rc.with_iris != c.with_iris ||
			memcmp(rc.by_cat, c.by_cat, sizeof(c.by_cat)) != 0) {
			r = paso_diag_set(&d, PASO_E_CORRUPT,
				"counters disagree with the records: %llu/%llu subjects, %llu/%llu "
				"crossings (counted/recorded)",
				(unsigned long long)rc.subjects, (unsigned long long)c.subjects,
				(unsigned long long)rc.crossings, (unsigned long long)c.crossings);
			goto out;
		}
	}
	if (json)
		printf("{\"subjects\":%" PRIu64 ",\"crossings\":%" PRIu64
		       ",\"identifications\":%" PRIu64 ",\"messages_seen\":%" PRIu64
		       ",\"kept_records\":%" PRIu64 ",\"with_finger\":%" PRIu64
		       ",\"with_face\":%" PRIu64 ",\"with_iris\":%" PRIu64
		       ",\"regional_visitor\":%" PRIu64 ",\"border_worker\":%" PRIu64
		       ",\"migrant_in_transit\":%" PRIu64 ",\"detainee\":%" PRIu64
		       ",\"store_bytes\":%" PRIu64 ",\"share_outbox\":%" PRIu64 ",\"recounted\":%s,"
		       "\"enrolments_by_expiry_year\":{",
			c.subjects, c.crossings, idents, vs.seen, vs.kept, c.with_finger,
			c.with_face, c.with_iris, c.by_cat[1], c.by_cat[2], c.by_cat[3],
			c.by_cat[4], vs.map_used, pending, recount ? "true" : "false");
	else
		printf("subjects %" PRIu64 " (regional visitors %" PRIu64
		       ", border workers %" PRIu64 ", migrants in transit %" PRIu64
		       ", detainees %" PRIu64 ")\n"
		       "templates kept: finger %" PRIu64 ", face %" PRIu64 ", iris %" PRIu64 "\n"
		       "crossings %" PRIu64 ", identifications %" PRIu64
		       ", kiosk messages answered %" PRIu64 "\nstore in use: %" PRIu64 " bytes%s\n",
			c.subjects, c.by_cat[1], c.by_cat[2], c.by_cat[3], c.by_cat[4],
			c.with_finger, c.with_face, c.with_iris, c.crossings, idents, vs.seen,
			vs.map_used, recount ? " (recounted from the sealed records)" : "");
	if (!json && pending > 0)
		printf("shares waiting for partners: %" PRIu64 "\n", pending);
	/* From the epoch index: each enrolment's epoch is its day of enrolment (or, stored
	 * before per-kind epochs, its expiry day); expiry under the policy in force. */
	if (!json && pol == NULL)
		printf("enrolments by expiry year: not shown (%s)\n", pd.msg);
	else if (!json)
		printf("enrolments by expiry year (erased the day after they expire):%s",
			y.count == 0 ? " none\n" : "\n");
	for (k = 0; k < y.count; k++)
		if (json)
			printf("%s\"%u\":%" PRIu64, k ? "," : "", y.year[k], y.n[k]);
		else
			printf("  %u  %" PRIu64 "\n", y.year[k], y.n[k]);
	if (json)
		printf("}}\n");
	else if (y.more > 0)
		printf("  (%zu later years not shown)\n", y.more);
out:
	vault_abort(t);
	vault_close(v);
	keyring_close(kr);
	policy_free(pol);
	return r != 0 ? fail("stats", &d, r) : 0;
}

/* clock: asks a running hub (its control socket in DIR) for its time, or moves it. */
static int
cmd_clock(int argc, char **argv)
{
	struct paso_diag d = {0};
	const char *dir = NULL, *advance = NULL, *set = NULL;
	char line[96], reply[700], path[DEPLOY_PATH_MAX + 16];
	uint64_t v;
	int i, r;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--advance") == 0 && i + 1 < argc)
			advance = argv[++i];
		else if (strcmp(argv[i], "--set") == 0 && i + 1 < argc)
			set = argv[++i];
		else if (argv[i][0] != '-' && dir == NULL)
			dir = argv[i];
		else
			return usage_error("clock", "unexpected argument '%s'", argv[i]);
	}
	if (dir == NULL)
		return usage_error("clock", "%s", "missing DIR");
	if (advance != NULL && set != NULL)
		return usage_error("clock", "%s", "--advance and --set exclude each other");
	if (advance != NULL) {
		if (duration_parse(advance, &v, &d) != 0)
			return usage_error("clock", "--advance: %s", d.msg);
		(void)snprintf(line, sizeof(line), "clock advance %llu", (unsigned long long)v);
	} else if (set != NULL) {
		if (instant_parse(set, &v, &d) != 0)
			return usage_error("clock", "--set: %s", d.msg);
		(void)snprintf(line, sizeof(line), "clock set %llu", (unsigned long long)v);
	} else
		(void)snprintf(line, sizeof(line), "clock");
	(void)snprintf(path, sizeof(path), "%s/control.sock", dir);
	if ((r = control_request(path, line, reply, sizeof(reply), &d)) != 0)
		return fail("clock", &d, r);
	/* "ok SECONDS INSTANT WHAT": print the instant and what happened. */
	{
		const char *p = strchr(reply + 3, ' ');

		printf("%s\n", p != NULL ? p + 1 : reply);
	}
	return 0;
}

/*
 * sweep --dry-run: what the hub's retention sweep would erase now. Asks the running hub (its
 * clock, its last commit); with none serving, reads the store offline at the deployment's time
 * (the wall clock, or the latest time a simulated clock recorded). Changes nothing.
 */
static int
cmd_sweep(int argc, char **argv)
{
	struct paso_diag d = {0};
	struct deploy_paths p;
	struct keyring *kr = NULL;
	struct vault *v = NULL;
	struct vault_txn *t = NULL;
	struct retention_due due;
	struct policy *pol = NULL;
	const char *dir = NULL;
	char reply[900], path[DEPLOY_PATH_MAX + 16], text[800];
	uint64_t now, sim = 0, high = 0;
	int i, r, dry = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dry-run") == 0)
			dry = 1;
		else if (argv[i][0] != '-' && dir == NULL)
			dir = argv[i];
		else
			return usage_error("sweep", "unexpected argument '%s'", argv[i]);
	}
	if (dir == NULL)
		return usage_error("sweep", "%s", "missing DIR");
	if (!dry)
		return usage_error("sweep", "%s",
			"only --dry-run: the hub sweeps on its own clock every second while serving, "
			"and at start");
	(void)snprintf(path, sizeof(path), "%s/control.sock", dir);
	r = control_request(path, "sweep dry-run", reply, sizeof(reply), &d);
	if (r == 0) {
		printf("%s (asked the running hub)\n", reply + 3);
		return 0;
	}
	if (r != PASO_E_IO || strstr(d.msg, "no hub answers") == NULL)
		return fail("sweep", &d, r);
	d.code = 0;
	d.msg[0] = '\0';
	if ((r = deploy_paths(dir, &p, &d)) != 0 ||
		(r = policy_load_file(p.policy, &pol, &d)) != 0 ||
		(r = keyring_open(p.keys, &kr, &d)) != 0 ||
		(r = vault_open(dir, kr, &v, &d)) != 0 || (r = vault_begin(v, 1, &t)) != 0)
		goto out;
	if (vault_meta_get(t, "clock.simulated", &sim) != 0)
		sim = 0;
	if (vault_meta_get(t, "clock.high", &high) != 0)
		high = 0;
	now = sim == 1 && high > 0 ? high : (uint64_t)time(NULL);
	if ((r = retention_due(t, kr, pol, now, &due)) != 0)
		goto out;
	retention_due_text(&due, now, text, sizeof(text));
	printf("%s (read offline under policy '%s'; no hub is serving)\n", text, policy_name(pol));
out:
	vault_abort(t);
	vault_close(v);
	keyring_close(kr);
	policy_free(pol);
	return r != 0 ? fail("sweep", &d, r) : 0;
}

/* reload: the running hub reads DIR/policy.yaml again (also on SIGHUP). */
static int
cmd_reload(int argc, char **argv)
{
	struct paso_diag d = {0};
	char reply[700], path[DEPLOY_PATH_MAX + 16];
	int r;

	if (argc != 2 || argv[1][0] == '-')
		return usage_error("reload", "%s", "needs exactly DIR");
	(void)snprintf(path, sizeof(path), "%s/control.sock", argv[1]);
	if ((r = control_request(path, "policy reload", reply, sizeof(reply), &d)) != 0)
		return fail("reload", &d, r);
	printf("%s\n", reply + 3);
	return 0;
}

/* protect DIR --renew: a new generation of the running hub's template protection key. */
static int
cmd_protect(int argc, char **argv)
{
	struct paso_diag d = {0};
	char reply[700], path[DEPLOY_PATH_MAX + 16];
	int r;

	if (argc != 3 || argv[1][0] == '-' || strcmp(argv[2], "--renew") != 0)
		return usage_error("protect", "%s", "needs DIR --renew");
	(void)snprintf(path, sizeof(path), "%s/control.sock", argv[1]);
	if ((r = control_request(path, "protect renew", reply, sizeof(reply), &d)) != 0)
		return fail("protect", &d, r);
	printf("%s\n", reply + 3);
	return 0;
}

static int
cmd_policy(int argc, char **argv)
{
	struct paso_diag d = {0};
	struct policy *p = NULL;
	char *text = NULL;
	int r;

	if (argc != 2)
		return usage_error("policy", "%s", "needs exactly one FILE");
	if ((r = policy_load_file(argv[1], &p, &d)) != 0)
		return fail("policy", &d, r);
	if ((r = policy_dump(p, &text)) == 0)
		fputs(text, stdout);
	free(text);
	policy_free(p);
	return r != 0 ? fail("policy", &d, r) : 0;
}

/* Reads a key given as a file name or as the key text itself (trailing newline cut). */
static int
key_arg(const char *arg, char *out, size_t cap, struct paso_diag *d)
{
	FILE *f = fopen(arg, "r");
	size_t n;

	if (f == NULL) {
		if (strlen(arg) >= cap)
			return paso_diag_set(
				d, PASO_E_INVALID_ARG, "--vkey: too long: '%.60s...'", arg);
		(void)snprintf(out, cap, "%s", arg);
		return 0;
	}
	n = fread(out, 1, cap - 1, f);
	fclose(f);
	out[n] = '\0';
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
		out[--n] = '\0';
	if (n == 0 || strchr(out, '\n') != NULL)
		return paso_diag_set(d, PASO_E_INVALID_ARG, "--vkey %s: not one key line", arg);
	return 0;
}

/* Appends line to path after checking the whole file with check (NULL: none); 0644, durable. */
static int
append_line(const char *path, const char *line,
	int (*check)(const char *text, size_t len, const char *label, struct paso_diag *d),
	struct paso_diag *d)
{
	char *buf = NULL;
	size_t n = 0, cap = 64u * 1024u;
	FILE *f;
	int r;

	if ((buf = malloc(cap + 1)) == NULL)
		return PASO_E_NOMEM;
	if ((f = fopen(path, "r")) != NULL) {
		n = fread(buf, 1, cap, f);
		fclose(f);
	} else if (errno != ENOENT) {
		free(buf);
		return paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
	}
	if (n > 0 && buf[n - 1] != '\n')
		buf[n++] = '\n';
	if (n + strlen(line) + 1 > cap) {
		free(buf);
		return paso_diag_set(d, PASO_E_INVALID_ARG, "%s: too large", path);
	}
	n += (size_t)snprintf(buf + n, cap + 1 - n, "%s\n", line);
	r = check != NULL ? check(buf, n, path, d) : 0;
	if (r == 0)
		r = durable_write(path, buf, n, 0644, DURABLE_REPLACE, d);
	free(buf);
	return r;
}

static int
check_witnesses(const char *text, size_t len, const char *label, struct paso_diag *d)
{
	struct cosign_witness w[COSIGN_MAX_WITNESSES];
	size_t n;

	return cosign_parse(text, len, label, w, COSIGN_MAX_WITNESSES, &n, d);
}

/*
 * witness key DIR | witness log DIR --vkey K | witness add DIR --name N --url U --vkey K:
 * this hub's witness key; the logs it witnesses; the witnesses it asks (registry/cosign.h).
 */
static int
cmd_witness(int argc, char **argv)
{
	struct paso_diag d = {0};
	struct checkpoint_verifier *v = NULL;
	struct witness *w = NULL;
	const char *sub, *dir = NULL, *name = NULL, *url = NULL, *vkey = NULL;
	char key[600], line[1200], path[DEPLOY_PATH_MAX + 32], self[PEER_NAME_MAX + 1];
	char wname[PEER_NAME_MAX + 32];
	int i, r;

	if (argc < 2)
		return usage_error("witness", "%s", "expected: witness key|log|add DIR ...");
	sub = argv[1];
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
			name = argv[++i];
		else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
			url = argv[++i];
		else if (strcmp(argv[i], "--vkey") == 0 && i + 1 < argc)
			vkey = argv[++i];
		else if (argv[i][0] != '-' && dir == NULL)
			dir = argv[i];
		else
			return usage_error("witness", "unexpected argument '%s'", argv[i]);
	}
	if (dir == NULL)
		return usage_error("witness", "%s", "missing DIR");
	if (strcmp(sub, "key") == 0) {
		if (name != NULL || url != NULL || vkey != NULL)
			return usage_error("witness", "%s", "witness key takes only DIR");
		(void)snprintf(path, sizeof(path), "%s/witness", dir);
		if ((r = peer_self_name(dir, self, sizeof(self), &d)) != 0)
			return fail("witness key", &d, r);
		(void)snprintf(wname, sizeof(wname), "paso-witness/%s", self);
		if ((r = witness_open(path, wname, &w, &d)) != 0)
			return fail("witness key", &d, r);
		printf("%s\n", witness_vkey(w));
		witness_close(w);
		return 0;
	}
	if (strcmp(sub, "log") == 0) {
		if (vkey == NULL || name != NULL || url != NULL)
			return usage_error("witness", "%s", "witness log needs DIR and --vkey KEY");
		if ((r = key_arg(vkey, key, sizeof(key), &d)) != 0 ||
			(r = checkpoint_verifier_parse(key, &v, &d)) != 0)
			return fail("witness log", &d, r);
		r = checkpoint_verifier_type(v) == CHECKPOINT_SIG_ED25519;
		checkpoint_verifier_free(v);
		if (!r) {
			paso_diag_set(
				&d, PASO_E_INVALID_ARG, "--vkey: '%.80s' is not a log key", key);
			return fail("witness log", &d, PASO_E_INVALID_ARG);
		}
		(void)snprintf(path, sizeof(path), "%s/witness", dir);
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			paso_diag_set(&d, PASO_E_IO, "%s: %s", path, strerror(errno));
			return fail("witness log", &d, PASO_E_IO);
		}
		(void)snprintf(path, sizeof(path), "%s/witness/logs", dir);
		if ((r = append_line(path, key, NULL, &d)) != 0)
			return fail("witness log", &d, r);
		printf("witnessing log '%s' (from the next `serve --witness-listen`)\n", key);
		return 0;
	}
	if (strcmp(sub, "add") == 0) {
		if (name == NULL || url == NULL || vkey == NULL)
			return usage_error(
				"witness", "%s", "witness add needs DIR, --name, --url and --vkey");
		if ((r = key_arg(vkey, key, sizeof(key), &d)) != 0)
			return fail("witness add", &d, r);
		(void)snprintf(line, sizeof(line), "%s %s %s", name, url, key);
		(void)snprintf(path, sizeof(path), "%s/witnesses", dir);
		if ((r = append_line(path, line, check_witnesses, &d)) != 0)
			return fail("witness add", &d, r);
		printf("witness '%s' at %s will cosign this log's checkpoints (a running hub reads "
		       "%s at once)\n",
			name, url, path);
		return 0;
	}
	return usage_error("witness", "unknown subcommand '%s' (key, log or add)", sub);
}

/* partner add DIR --name PEER --ca FILE */
static int
cmd_partner(int argc, char **argv)
{
	struct paso_diag d = {0};
	const char *dir = NULL, *name = NULL, *ca = NULL;
	int i, r;

	if (argc < 2 || strcmp(argv[1], "add") != 0)
		return usage_error(
			"partner", "%s", "expected: partner add DIR --name PEER --ca FILE");
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
			name = argv[++i];
		else if (strcmp(argv[i], "--ca") == 0 && i + 1 < argc)
			ca = argv[++i];
		else if (argv[i][0] != '-' && dir == NULL)
			dir = argv[i];
		else
			return usage_error("partner", "unexpected argument '%s'", argv[i]);
	}
	if (dir == NULL || name == NULL || ca == NULL)
		return usage_error(
			"partner", "%s", "partner add needs DIR, --name PEER and --ca FILE");
	if ((r = peer_add(dir, name, ca, &d)) != 0)
		return fail("partner add", &d, r);
	printf("peer '%s' trusted: CA pinned in %s/peers/%s.ca.crt, our certificate for it in "
	       "%s/peers/%s.crt (key 0600); recorded in the audit log\n",
		name, dir, name, dir, name);
	return 0;
}

#define PROBE_MAX (1u << 20)

/* Reads a probe file: one packed Capture (paso-kiosk probe writes them). */
static int
read_probe(const char *path, Paso__Capture **out, struct paso_diag *d)
{
	uint8_t *buf;
	size_t n;
	FILE *f;

	*out = NULL;
	if ((f = fopen(path, "rb")) == NULL)
		return paso_diag_set(d, PASO_E_IO, "--probe %s: %s", path, strerror(errno));
	if ((buf = malloc(PROBE_MAX + 1)) == NULL) {
		fclose(f);
		return PASO_E_NOMEM;
	}
	n = fread(buf, 1, PROBE_MAX + 1, f);
	fclose(f);
	if (n == 0 || n > PROBE_MAX) {
		free(buf);
		return paso_diag_set(d, PASO_E_INVALID_ARG, "--probe %s: %s", path,
			n == 0 ? "empty" : "larger than 1 MiB");
	}
	*out = paso__capture__unpack(frame_allocator(), n, buf);
	sodium_memzero(buf, n);
	free(buf);
	if (*out == NULL)
		return paso_diag_set(d, PASO_E_DECODE,
			"--probe %s: not a Capture (make one with "
			"paso-kiosk probe)",
			path);
	return 0;
}

/*
 * Sends n notes to the running hub at path (control socket), 256 a request. *sent counts the
 * notes the hub recorded. 0, or the first failing request's code (PASO_E_IO: no hub answers).
 */
static int
send_notes(const char *path, size_t n, const int *codes, char *const *details, int release,
	size_t *sent, struct paso_diag *d)
{
	char reply[700], *text = NULL;
	size_t i, j, k, len, cap;
	int r = 0;

	*sent = 0;
	for (i = 0; i < n && r == 0; i += k) {
		k = n - i < 256 ? n - i : 256;
		cap = 32;
		for (j = 0; j < k; j++)
			cap += strlen(details[i + j]) + 16;
		if ((text = malloc(cap)) == NULL) {
			r = PASO_E_NOMEM;
			break;
		}
		len = (size_t)snprintf(text, cap, "%s-notes %zu", release ? "release" : "query", k);
		for (j = 0; j < k; j++)
			len += (size_t)snprintf(
				text + len, cap - len, "\n%d %s", codes[i + j], details[i + j]);
		if ((r = control_request(path, text, reply, sizeof(reply), d)) == 0)
			*sent += k;
		free(text);
		text = NULL;
	}
	return r;
}

/*
 * Records n queries (or releases) in the partner's own log, one entry each, in one transaction
 * per 256: through its running hub, which holds the log, or offline when none answers. The hub
 * is asked first: opening the ledger offline reads the whole log before it finds the hub's
 * lock, and a partner's log grows with every query it makes.
 */
static int
note_queries(const char *dir, const char *purpose, size_t n, const int *codes, char *const *details,
	int release, struct paso_diag *d)
{
	const Paso__Action act = release ? PASO__ACTION__RELEASE : PASO__ACTION__QUERY;
	struct deploy_paths p;
	struct keyring *kr = NULL;
	struct vault *v = NULL;
	struct policy *pol = NULL;
	Paso__Action *acts = NULL;
	char path[DEPLOY_PATH_MAX + 16];
	size_t i, sent = 0;
	int r;

	(void)snprintf(path, sizeof(path), "%s/control.sock", dir);
	if ((r = send_notes(path, n, codes, details, release, &sent, d)) == 0 || sent > 0)
		return r; /* recorded by the hub, or partly: never written twice */
	d->code = 0;
	if ((r = deploy_paths(dir, &p, d)) != 0 || (r = policy_load_file(p.policy, &pol, d)) != 0 ||
		(r = keyring_open(p.keys, &kr, d)) != 0)
		goto out;
	if ((acts = calloc(n, sizeof(*acts))) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++)
		acts[i] = act;
	r = vault_open(dir, kr, &v, d);
	if (r == 0)
		r = deploy_audit_offline(&p, v, policy_digest(pol), purpose, acts,
			(const char *const *)details, n, d);
	if (r != PASO_E_EXISTS)
		goto out;
	/* The partner's hub is serving (it started meanwhile, or refused the notes above): it
	 * holds the log and writes the entries. */
	d->code = 0;
	r = send_notes(path, n, codes, details, release, &sent, d);
out:
	free(acts);
	vault_close(v);
	keyring_close(kr);
	policy_free(pol);
	return r;
}

static int
note_query(const char *dir, const char *purpose, int code, const char *detail, int release,
	struct paso_diag *d)
{
	char *dt = (char *)detail;

	return note_queries(dir, purpose, 1, &code, &dt, release, d);
}

/*
 * The national hub a partner command (query, release) talks to: --hub parsed into host (256
 * bytes) and port, dir checked to be a partner deployment, *peer chosen (as given, or the one
 * peer dir trusts, copied into peerbuf) and its files found. Returns 0, or the command's exit
 * status (2 usage, 1 error) after saying why.
 */
static int
partner_target(const char *cmd, const char *dir, const char *hub, const char **peer,
	char peerbuf[PEER_NAME_MAX + 1], char host[256], uint32_t *port, struct peer_files *pf)
{
	struct paso_diag d = {0};
	enum peer_role role;
	char *colon;
	int r;

	if (snprintf(host, 256, "%s", hub) >= 256 || (colon = strrchr(host, ':')) == NULL ||
		colon == host || parse_u32(colon + 1, 1, 65535, port) != 0)
		return usage_error(cmd, "--hub: expected HOST:PORT, not '%s'", hub);
	*colon = '\0';
	if ((r = peer_role(dir, &role, &d)) != 0)
		return fail(cmd, &d, r);
	if (role != PEER_ROLE_PARTNER) {
		paso_diag_set(&d, PASO_E_INVALID_ARG,
			"%s is not a partner deployment (init --role partner)", dir);
		return fail(cmd, &d, PASO_E_INVALID_ARG);
	}
	if (*peer == NULL) {
		if (peer_count(dir, peerbuf) != 1) {
			paso_diag_set(&d, PASO_E_UNKNOWN_PARTNER,
				"%s trusts %zu peers; name the national hub with --peer", dir,
				peer_count(dir, NULL));
			return fail(cmd, &d, PASO_E_UNKNOWN_PARTNER);
		}
		*peer = peerbuf;
	}
	if ((r = peer_files(dir, *peer, pf, &d)) != 0)
		return fail(cmd, &d, r);
	return 0;
}

/* What a partner command (query, release) was given: DIR, --hub, --purpose, --peer and one
 * command-specific option (--probe or --case). */
struct partner_args {
	const char *dir, *hub, *purpose, *peer, *extra;
	const char *probes;   /* query --probes SET */
	uint32_t connections; /* query --connections N (with --probes) */
};

/*
 * Parses a partner command's arguments; `extra` names its own option ("--probe", "--case")
 * and `meta` its value ("FILE", "TOKEN").
 * Returns 0, or exit status 2 after saying what is wrong.
 */
static int
partner_parse(const char *cmd, const char *extra, const char *meta, int argc, char **argv,
	struct partner_args *a)
{
	size_t k;
	int i;

	memset(a, 0, sizeof(*a));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--hub") == 0 && i + 1 < argc)
			a->hub = argv[++i];
		else if (strcmp(argv[i], "--purpose") == 0 && i + 1 < argc)
			a->purpose = argv[++i];
		else if (strcmp(argv[i], extra) == 0 && i + 1 < argc)
			a->extra = argv[++i];
		else if (strcmp(argv[i], "--peer") == 0 && i + 1 < argc)
			a->peer = argv[++i];
		else if (strcmp(cmd, "query") == 0 && strcmp(argv[i], "--probes") == 0 &&
			 i + 1 < argc)
			a->probes = argv[++i];
		else if (strcmp(cmd, "query") == 0 && strcmp(argv[i], "--connections") == 0 &&
			 i + 1 < argc) {
			if (parse_u32(argv[++i], 1, 32, &a->connections) != 0)
				return usage_error(cmd, "--connections: 1..32, not '%s'", argv[i]);
		} else if (argv[i][0] != '-' && a->dir == NULL)
			a->dir = argv[i];
		else
			return usage_error(cmd, "unexpected argument '%s'", argv[i]);
	}
	if (a->probes != NULL && a->extra != NULL)
		return usage_error(cmd, "--probe and --probes: one or the other");
	if (a->probes != NULL)
		a->extra = a->probes;
	else if (a->connections != 0)
		return usage_error(cmd, "--connections goes with --probes");
	if (a->connections == 0)
		a->connections = 4;
	if (a->dir == NULL || a->hub == NULL || a->purpose == NULL || a->extra == NULL)
		return usage_error(
			cmd, "needs DIR, --hub HOST:PORT, --purpose P and %s %s", extra, meta);
	if (strlen(a->purpose) == 0 || strlen(a->purpose) > 256)
		return usage_error(cmd, "--purpose: 1..256 characters");
	for (k = 0; a->purpose[k] != '\0'; k++)
		if ((unsigned char)a->purpose[k] < 0x20 || a->purpose[k] == 0x7f)
			return usage_error(cmd, "--purpose: no control characters");
	return 0;
}

/*
 * Sends env (its kiosk_id and seq are filled here) to the national hub as this partner, over
 * one mutually authenticated TLS connection, and reads its one answer into *ans (caller frees).
 */
static int
partner_exchange(const char *dir, const struct partner_args *a, const char *host, uint32_t port,
	const struct peer_files *pf, Paso__Envelope *env, Paso__Envelope **ans, struct paso_diag *d)
{
	char self[PEER_NAME_MAX + 1];
	struct tls_ctx *ctx = NULL;
	struct tls_conn *c = NULL;
	uint8_t *frame = NULL, *payload = NULL;
	size_t flen = 0;
	uint32_t plen;
	int r;

	*ans = NULL;
	if ((r = peer_self_name(dir, self, sizeof(self), d)) != 0)
		goto out;
	env->kiosk_id = self;
	env->seq = (uint64_t)time(NULL);
	if ((r = tls_ctx_new_client(pf->cert, pf->key, pf->ca, DEPLOY_HUB_NAME, &ctx, d)) != 0 ||
		(r = tls_connect(ctx, host, (uint16_t)port, 10000, &c, d)) != 0 ||
		(r = frame_encode(env, FRAME_DEFAULT_MAX, &frame, &flen)) != 0 ||
		(r = tls_write_all(c, frame, flen)) != 0 ||
		(r = tls_read_frame(c, FRAME_DEFAULT_MAX, &payload, &plen, d)) != 0 ||
		(r = frame_decode(payload, plen, ans, d)) != 0) {
		if (d->code == 0)
			paso_diag_set(d, r, "%s: %s", a->hub, paso_strerror(r));
		goto out;
	}
out:
	env->kiosk_id = NULL;
	free(frame);
	free(payload);
	if (c != NULL)
		tls_conn_shutdown(c);
	tls_conn_free(c);
	tls_ctx_free(ctx);
	return r;
}

/*
 * The national hub's refusal of a partner's request: printed, described in detail (prefix says
 * what was asked), *code set. Returns exit status 4.
 */
static int
partner_refused(const Paso__Envelope *ans, const char *prefix, char *detail, size_t dlen, int *code)
{
	*code = ans->error->code;
	printf("refused: %s (%d): %s (national audit entry %llu)\n", paso_errname(*code), *code,
		ans->error->message ? ans->error->message : "",
		(unsigned long long)ans->error->audit_index);
	(void)snprintf(detail, dlen, "%s: refused %s, their entry %llu", prefix,
		paso_errname(*code), (unsigned long long)ans->error->audit_index);
	return 4;
}

#define PROBE_SET_MAX 100000u

/* Reads a probe set (paso-kiosk probe --list): *caps[0..*n) unpacked with frame_allocator. */
static int
read_probe_set(const char *path, Paso__Capture ***caps, size_t *n, struct paso_diag *d)
{
	uint8_t hdr[FRAME_HEADER_BYTES], magic[PROBE_SET_MAGIC_LEN], *buf = NULL;
	Paso__Capture **v = NULL, **nv;
	size_t cap = 0, got;
	uint32_t len;
	FILE *f;
	int r = 0;

	*caps = NULL;
	*n = 0;
	if ((f = fopen(path, "rb")) == NULL)
		return paso_diag_set(d, PASO_E_IO, "--probes %s: %s", path, strerror(errno));
	if (fread(magic, 1, sizeof(magic), f) != sizeof(magic) ||
		memcmp(magic, PROBE_SET_MAGIC, PROBE_SET_MAGIC_LEN) != 0) {
		r = paso_diag_set(d, PASO_E_DECODE,
			"--probes %s: not a probe set (make one with paso-kiosk probe --list)",
			path);
		goto out;
	}
	if ((buf = malloc(PROBE_MAX)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	while ((got = fread(hdr, 1, sizeof(hdr), f)) == sizeof(hdr)) {
		len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 |
		      hdr[3];
		if (*n == PROBE_SET_MAX || len == 0 || len > PROBE_MAX) {
			r = paso_diag_set(d, PASO_E_INVALID_ARG, "--probes %s: probe %zu: %s", path,
				*n + 1,
				*n == PROBE_SET_MAX ? "more than 100000 probes"
						    : "length 0 or over 1 MiB");
			goto out;
		}
		if (fread(buf, 1, len, f) != len) {
			r = paso_diag_set(d, PASO_E_DECODE, "--probes %s: probe %zu is cut short",
				path, *n + 1);
			goto out;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				r = PASO_E_NOMEM;
				goto out;
			}
			v = nv;
		}
		v[*n] = paso__capture__unpack(frame_allocator(), len, buf);
		sodium_memzero(buf, len);
		if (v[*n] == NULL) {
			r = paso_diag_set(d, PASO_E_DECODE,
				"--probes %s: probe %zu is not a Capture", path, *n + 1);
			goto out;
		}
		(*n)++;
	}
	if (got != 0 || ferror(f))
		r = paso_diag_set(
			d, PASO_E_DECODE, "--probes %s: ends inside a probe's length", path);
	else if (*n == 0)
		r = paso_diag_set(d, PASO_E_INVALID_ARG, "--probes %s: holds no probe", path);
out:
	fclose(f);
	free(buf);
	if (r != 0) {
		while (*n > 0)
			paso__capture__free_unpacked(v[--(*n)], frame_allocator());
		free(v);
		v = NULL;
	}
	*caps = v;
	return r;
}

/* One probe's answer in a batch. */
struct qslot {
	int rc;         /* 0 hit, 3 no hit, 4 refused, 1 not answered */
	int code;       /* the refusal's code */
	uint64_t entry; /* the national hub's audit entry */
	char tok[65];   /* a hit's case token */
	char msg[300];  /* a refusal's message */
};

/* A batch of queries shared by its connections' threads. */
struct qbatch {
	const struct partner_args *a;
	const char *host, *self;
	uint32_t port;
	struct tls_ctx *ctx;
	Paso__Capture **caps;
	size_t n;
	atomic_size_t next;
	struct qslot *slots;
	pthread_mutex_t mu;
	struct paso_diag err; /* the first connection's failure */
};

/* Probes one link may have sent and not yet had answered (the hub takes up to 64). */
#define QUERY_WINDOW 16

/* Records the answer ans to probe i in its slot. 0, or an error for an unexpected answer. */
static int
qbatch_record(struct qbatch *b, size_t i, const Paso__Envelope *ans, struct paso_diag *d)
{
	struct qslot *sl = &b->slots[i];

	if (ans->body_case == PASO__ENVELOPE__BODY_QUERY_ANSWER && ans->seq == (uint64_t)i + 1) {
		sl->rc = ans->query_answer->hit ? 0 : 3;
		sl->entry = ans->query_answer->audit_index;
		if (ans->query_answer->hit && ans->query_answer->case_token.len == 32)
			hex_encode(ans->query_answer->case_token.data, 32, sl->tok);
		else
			sl->rc = 3;
		return 0;
	}
	if (ans->body_case == PASO__ENVELOPE__BODY_ERROR &&
		(ans->error->seq == 0 || ans->error->seq == (uint64_t)i + 1)) {
		sl->rc = 4;
		sl->code = ans->error->code;
		sl->entry = ans->error->audit_index;
		(void)snprintf(sl->msg, sizeof(sl->msg), "%s",
			ans->error->message ? ans->error->message : "");
		return 0;
	}
	return paso_diag_set(d, PASO_E_UNKNOWN_MESSAGE,
		"%s answered probe %zu with body %d (seq %llu)", b->a->hub, i + 1,
		(int)ans->body_case, (unsigned long long)ans->seq);
}

/*
 * One connection: takes the next unanswered probes and keeps up to QUERY_WINDOW of them sent
 * ahead of their answers (the hub answers a link's requests in order and commits what it has
 * in hand together), until none is left or the link fails.
 */
static void *
qbatch_worker(void *arg)
{
	struct qbatch *b = arg;
	struct paso_diag d = {0};
	struct tls_conn *c = NULL;
	size_t sent[QUERY_WINDOW], head = 0, nout = 0, i;
	int r = 0, more = 1;

	if ((r = tls_connect(b->ctx, b->host, (uint16_t)b->port, 10000, &c, &d)) != 0)
		goto out;
	while (r == 0 && (more || nout > 0)) {
		Paso__Envelope *ans = NULL;
		uint8_t *payload = NULL;
		uint32_t plen;

		while (r == 0 && more && nout < QUERY_WINDOW) {
			Paso__Envelope env = PASO__ENVELOPE__INIT;
			Paso__Query q = PASO__QUERY__INIT;
			uint8_t *frame = NULL;
			size_t flen = 0;

			if ((i = atomic_fetch_add(&b->next, 1)) >= b->n) {
				more = 0;
				break;
			}
			q.purpose = (char *)b->a->purpose;
			q.probe = b->caps[i];
			env.kiosk_id = (char *)b->self;
			env.seq = (uint64_t)i + 1;
			env.body_case = PASO__ENVELOPE__BODY_QUERY;
			env.query = &q;
			if ((r = frame_encode(&env, FRAME_DEFAULT_MAX, &frame, &flen)) == 0 &&
				(r = tls_write_all(c, frame, flen)) == 0)
				sent[(head + nout++) % QUERY_WINDOW] = i;
			free(frame);
		}
		if (r != 0 || nout == 0)
			break;
		if ((r = tls_read_frame(c, FRAME_DEFAULT_MAX, &payload, &plen, &d)) == 0 &&
			(r = frame_decode(payload, plen, &ans, &d)) == 0)
			r = qbatch_record(b, sent[head], ans, &d);
		head = (head + 1) % QUERY_WINDOW;
		nout--;
		if (ans != NULL)
			paso__envelope__free_unpacked(ans, NULL);
		free(payload);
	}
out:
	if (r != 0) {
		pthread_mutex_lock(&b->mu);
		if (b->err.code == 0) {
			if (d.code == 0)
				paso_diag_set(&d, r, "%s: %s", b->a->hub, paso_strerror(r));
			b->err = d;
		}
		pthread_mutex_unlock(&b->mu);
	}
	if (c != NULL)
		tls_conn_shutdown(c);
	tls_conn_free(c);
	return NULL;
}

/*
 * Sends the probes caps[0..n) (taken over: freed here) over --connections links at once (the
 * national hub searches them side by side and commits their entries together), prints a line
 * each in order ("probe K: " before each when a set was given), and records them in the
 * partner's own log in batches. One probe (--probe): exit 0 hit, 3 no hit, 4 refused, 1 error.
 * A set (--probes): exit 0 when every probe was answered (hit, no hit or refused), 1 otherwise.
 */
static int
query_send(const struct partner_args *a, const char *host, uint32_t port,
	const struct peer_files *pf, Paso__Capture **caps, size_t n)
{
	struct paso_diag d = {0};
	struct qbatch b;
	char self[PEER_NAME_MAX + 1], what[600], pre[32], **details = NULL;
	pthread_t th[32];
	int *codes = NULL, started = 0, r, rc = 1, single = a->probes == NULL;
	size_t i, done = 0, unanswered = 0;

	memset(&b, 0, sizeof(b));
	pthread_mutex_init(&b.mu, NULL);
	b.caps = caps;
	b.n = n;
	if ((r = peer_self_name(a->dir, self, sizeof(self), &d)) != 0 ||
		(r = tls_ctx_new_client(pf->cert, pf->key, pf->ca, DEPLOY_HUB_NAME, &b.ctx, &d)) !=
			0)
		goto out;
	b.a = a;
	b.host = host;
	b.port = port;
	b.self = self;
	atomic_init(&b.next, 0);
	if ((b.slots = calloc(b.n, sizeof(*b.slots))) == NULL ||
		(codes = calloc(b.n, sizeof(*codes))) == NULL ||
		(details = calloc(b.n, sizeof(*details))) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	for (i = 0; i < b.n; i++)
		b.slots[i].rc = 1;
	for (started = 0; started < (int)a->connections && (size_t)started < b.n; started++)
		if (pthread_create(&th[started], NULL, qbatch_worker, &b) != 0)
			break;
	if (started == 0) {
		r = PASO_E_INTERNAL;
		goto out;
	}
	while (started > 0)
		pthread_join(th[--started], NULL);
	(void)snprintf(what, sizeof(what), "query to '%s' (purpose '%s')", a->peer, a->purpose);
	for (i = 0; i < b.n; i++) {
		const struct qslot *sl = &b.slots[i];
		char line[900];

		pre[0] = '\0';
		if (!single)
			(void)snprintf(pre, sizeof(pre), "probe %zu: ", i + 1);
		if (sl->rc == 0) {
			printf("%shit: case token %s (national audit entry %llu)\n", pre, sl->tok,
				(unsigned long long)sl->entry);
			(void)snprintf(line, sizeof(line),
				"%s: hit, case token %s, their entry %llu", what, sl->tok,
				(unsigned long long)sl->entry);
		} else if (sl->rc == 3) {
			printf("%sno hit (national audit entry %llu)\n", pre,
				(unsigned long long)sl->entry);
			(void)snprintf(line, sizeof(line), "%s: no hit, their entry %llu", what,
				(unsigned long long)sl->entry);
		} else if (sl->rc == 4) {
			printf("%srefused: %s (%d): %s (national audit entry %llu)\n", pre,
				paso_errname(sl->code), sl->code, sl->msg,
				(unsigned long long)sl->entry);
			(void)snprintf(line, sizeof(line), "%s: refused %s, their entry %llu", what,
				paso_errname(sl->code), (unsigned long long)sl->entry);
		} else {
			if (!single)
				printf("%snot answered\n", pre);
			unanswered++;
			continue;
		}
		codes[done] = sl->rc == 4 ? sl->code : 0;
		if ((details[done++] = strdup(line)) == NULL) {
			r = PASO_E_NOMEM;
			goto out;
		}
	}
	fflush(stdout);
	if (done > 0 && (r = note_queries(a->dir, a->purpose, done, codes, details, 0, &d)) != 0)
		goto out;
	if (unanswered > 0) {
		d = b.err;
		r = d.code != 0 ? d.code : paso_diag_set(&d, PASO_E_IO, "%s: no answer", a->hub);
		if (!single)
			fprintf(stderr, "paso-hub query: %zu of %zu probes not answered\n",
				unanswered, b.n);
		goto out;
	}
	rc = single ? b.slots[0].rc : 0;
out:
	for (i = 0; details != NULL && i < b.n; i++)
		free(details[i]);
	free(details);
	free(codes);
	free(b.slots);
	for (i = 0; i < n; i++)
		paso__capture__free_unpacked(caps[i], frame_allocator());
	free(caps);
	tls_ctx_free(b.ctx);
	pthread_mutex_destroy(&b.mu);
	if (r != 0)
		return fail("query", &d, r), 1;
	return rc;
}

/*
 * query: a partner asks the national hub whether a probe (or each probe of a set) is enrolled.
 * Exit codes: query_send.
 */
static int
cmd_query(int argc, char **argv)
{
	struct paso_diag d = {0};
	struct partner_args a;
	char host[256], peerbuf[PEER_NAME_MAX + 1];
	struct peer_files pf;
	Paso__Capture **caps = NULL;
	size_t n = 1;
	uint32_t port;
	int r;

	if ((r = partner_parse("query", "--probe", "FILE (or --probes SET)", argc, argv, &a)) != 0)
		return r;
	if ((r = partner_target("query", a.dir, a.hub, &a.peer, peerbuf, host, &port, &pf)) != 0)
		return r;
	if (a.probes != NULL)
		r = read_probe_set(a.extra, &caps, &n, &d);
	else if ((caps = calloc(1, sizeof(*caps))) == NULL)
		r = PASO_E_NOMEM;
	else if ((r = read_probe(a.extra, &caps[0], &d)) != 0) {
		free(caps);
		caps = NULL;
	}
	if (r != 0)
		return fail("query", &d, r);
	return query_send(&a, host, port, &pf, caps, n);
}

/*
 * release: after a hit, a partner asks the national hub to release the record behind a case
 * token for a purpose. Exit 0 accepted (the record follows on the share link), 4 refused by
 * the hub (code printed), 1 any other error, 2 usage.
 */
static int
cmd_release(int argc, char **argv)
{
	struct paso_diag d = {0};
	struct partner_args a;
	char host[256], peerbuf[PEER_NAME_MAX + 1], detail[900], what[700];
	struct peer_files pf;
	Paso__Envelope env = PASO__ENVELOPE__INIT, *ans = NULL;
	Paso__Release rl = PASO__RELEASE__INIT;
	uint8_t token[32];
	size_t tlen;
	uint32_t port;
	int r, rc = 1, code = 0;

	if ((r = partner_parse("release", "--case", "TOKEN", argc, argv, &a)) != 0)
		return r;
	if (strlen(a.extra) != 64 || hex_decode(a.extra, token, sizeof(token), &tlen) != 0)
		return usage_error("release",
			"--case: expected the 64 hex digits of a case token (from `paso-hub "
			"query`), not '%.80s'",
			a.extra);
	if ((r = partner_target("release", a.dir, a.hub, &a.peer, peerbuf, host, &port, &pf)) != 0)
		return r;
	rl.case_token.data = token;
	rl.case_token.len = sizeof(token);
	rl.purpose = (char *)a.purpose;
	env.body_case = PASO__ENVELOPE__BODY_RELEASE;
	env.release = &rl;
	if ((r = partner_exchange(a.dir, &a, host, port, &pf, &env, &ans, &d)) != 0)
		goto out;
	(void)snprintf(what, sizeof(what), "release to '%s' (purpose '%s') on case %s", a.peer,
		a.purpose, a.extra);
	if (ans->body_case == PASO__ENVELOPE__BODY_RELEASE_ANSWER) {
		printf("released: share_seq %llu, %u release(s) left on the case (national audit "
		       "entry %llu); the record arrives on the share link\n",
			(unsigned long long)ans->release_answer->share_seq,
			(unsigned)ans->release_answer->uses_left,
			(unsigned long long)ans->release_answer->audit_index);
		(void)snprintf(detail, sizeof(detail),
			"%s: accepted, share_seq %llu, their entry %llu", what,
			(unsigned long long)ans->release_answer->share_seq,
			(unsigned long long)ans->release_answer->audit_index);
		rc = 0;
	} else if (ans->body_case == PASO__ENVELOPE__BODY_ERROR) {
		rc = partner_refused(ans, what, detail, sizeof(detail), &code);
	} else {
		r = paso_diag_set(&d, PASO_E_UNKNOWN_MESSAGE, "%s answered with body %d", a.hub,
			(int)ans->body_case);
		goto out;
	}
	fflush(stdout);
	if ((r = note_query(a.dir, a.purpose, code, detail, 1, &d)) != 0) {
		rc = 1;
		goto out;
	}
	r = 0;
out:
	if (ans != NULL)
		paso__envelope__free_unpacked(ans, NULL);
	sodium_memzero(token, sizeof(token));
	if (r != 0)
		return fail("release", &d, r), 1;
	return rc;
}

int
main(int argc, char **argv)
{
	if (sodium_init() < 0) {
		fprintf(stderr, "paso-hub: libsodium failed to initialise\n");
		return 1;
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "init") == 0)
		return cmd_init(argc - 1, argv + 1);
	if (strcmp(argv[1], "issue") == 0)
		return cmd_kiosk(argc - 1, argv + 1, deploy_issue_kiosk,
			"issued: certificate and key (0600) in DIR/kiosks/; the hub records the issue "
			"in its audit log");
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(argv[1], "revoke") == 0)
		return cmd_kiosk(argc - 1, argv + 1, deploy_revoke_kiosk,
			"revoked: the hub refuses it from its next connection and records the "
			"revocation in its audit log");
	if (strcmp(argv[1], "stats") == 0)
		return cmd_stats(argc - 1, argv + 1);
	if (strcmp(argv[1], "policy") == 0)
		return cmd_policy(argc - 1, argv + 1);
	if (strcmp(argv[1], "clock") == 0)
		return cmd_clock(argc - 1, argv + 1);
	if (strcmp(argv[1], "sweep") == 0)
		return cmd_sweep(argc - 1, argv + 1);
	if (strcmp(argv[1], "reload") == 0)
		return cmd_reload(argc - 1, argv + 1);
	if (strcmp(argv[1], "partner") == 0)
		return cmd_partner(argc - 1, argv + 1);
	if (strcmp(argv[1], "witness") == 0)
		return cmd_witness(argc - 1, argv + 1);
	if (strcmp(argv[1], "protect") == 0)
		return cmd_protect(argc - 1, argv + 1);
	if (strcmp(argv[1], "query") == 0)
		return cmd_query(argc - 1, argv + 1);
	if (strcmp(argv[1], "release") == 0)
		return cmd_release(argc - 1, argv + 1);
	fprintf(stderr, "paso-hub: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
