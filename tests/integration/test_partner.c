/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Two real deployments on loopback: a national hub and a partner agency, each with its own CA,
 * keys, store, policy and audit log. Trust set up by exchanging CA files (and refused when
 * wrong), certificates that never cross roles, hit/no-hit queries with their refusals, bulk
 * shares counted on both sides, exactly once across kill -9 of either side, and no template
 * byte in the clear anywhere.
 */
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#include "client.h"
#include "errors.h"
#include "harness.h"
#include "capture.h"
#include "keyring.h"
#include "paso.pb-c.h"
#include "pgallery.h"
#include "population.h"
#include "protect_metrics.h"
#include "protref.h"
#include "vault.h"

#define K "kiosk-ciudad-hidalgo"
#define PURPOSE "immigration case check"

struct pair {
	struct deployment nat; /* the national hub (kiosks issued) */
	struct deployment par; /* the partner "dhs" */
	char natpolicy[1500], parpolicy[700];
	uint16_t nat_peer, par_peer;
	uint64_t seq;
};

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static const char national_yaml[] = "name: national-test\n"
				    "store:\n  finger: true\n  face: true\n  iris: true\n"
				    "sharing:\n"
				    "  - partner: dhs\n    what: hit_no_hit\n    categories: all\n"
				    "    purpose: " PURPOSE "\n    retention_days: 30\n"
				    "    daily_budget: 4\n"
				    "  - partner: dhs\n    what: templates\n    categories: all\n"
				    "    purpose: bulk screening\n    retention_days: 3650\n"
				    "  - partner: dhs\n    what: records\n    categories: all\n"
				    "    purpose: bulk screening\n    retention_days: 3650\n";

static const char partner_yaml[] = "name: partner-dhs\n"
				   "store:\n  finger: true\n  face: true\n  iris: true\n"
				   "retention_days:\n  enrolment: 365\n";

static int
run_out(char **out, const char *const argv[])
{
	int st = h_run(out, argv);

	if (*out == NULL)
		*out = strdup("");
	return st;
}

static void pair_setup_with(struct pair *p, const char *national_policy);

/* The temporary trees of the pair under test, for the teardown after a failed assertion. */
static char live_trees[2][512];

static void
remove_tree(const char *dir)
{
	const char *argv[] = {"rm", "-rf", dir, NULL};
	pid_t pid;

	if (getenv("PASO_KEEP") != NULL || dir[0] == '\0')
		return;
	if ((pid = fork()) == 0) {
		execvp("rm", (char *const *)argv);
		_exit(127);
	}
	(void)h_wait(pid);
}

/*
 * Runs after every test, passed or failed: a failed assertion jumps past the test's own stops
 * and cleanup, so its hubs are killed here (the harness tracks them) and its trees removed.
 */
static int
teardown_pair(void **state)
{
	size_t i;

	(void)state;
	h_kill_hubs();
	for (i = 0; i < 2; i++) {
		remove_tree(live_trees[i]);
		live_trees[i][0] = '\0';
	}
	return 0;
}

/* The national hub (policy with rules for dhs) and the partner, CA files exchanged. */
static void
pair_setup(struct pair *p)
{
	pair_setup_with(p, national_yaml);
}

static void
pair_setup_with(struct pair *p, const char *national_policy)
{
	char tmpl[] = "/tmp/paso-partner-XXXXXX", ca[800], *out = NULL;

	memset(p, 0, sizeof(*p));
	p->seq = 1;
	assert_non_null(mkdtemp(tmpl));
	(void)snprintf(p->natpolicy, sizeof(p->natpolicy), "%s/national.yaml", tmpl);
	(void)snprintf(p->parpolicy, sizeof(p->parpolicy), "%s/partner.yaml", tmpl);
	(void)snprintf(live_trees[0], sizeof(live_trees[0]), "%s", tmpl);
	write_text(p->natpolicy, national_policy);
	write_text(p->parpolicy, partner_yaml);
	h_deploy(&p->nat, p->natpolicy);
	(void)snprintf(live_trees[1], sizeof(live_trees[1]), "%s", p->nat.dir);
	(void)snprintf(p->par.dir, sizeof(p->par.dir), "%s", tmpl);
	(void)snprintf(p->par.hub, sizeof(p->par.hub), "%s/dhs", tmpl);
	(void)snprintf(p->par.log, sizeof(p->par.log), "%s/dhs.log", tmpl);
	{
		const char *argv[] = {"paso-hub", "init", p->par.hub, "--name", "dhs", "--role",
			"partner", "--policy", p->parpolicy, NULL};
		assert_int_equal(run_out(&out, argv), 0);
		assert_non_null(strstr(out, "partner deployment 'dhs'"));
		free(out);
	}
	(void)snprintf(ca, sizeof(ca), "%s/ca/ca.crt", p->par.hub);
	{
		const char *argv[] = {"paso-hub", "partner", "add", p->nat.hub, "--name", "dhs",
			"--ca", ca, NULL};
		assert_int_equal(run_out(&out, argv), 0);
		free(out);
	}
	(void)snprintf(ca, sizeof(ca), "%s/ca/ca.crt", p->nat.hub);
	{
		const char *argv[] = {"paso-hub", "partner", "add", p->par.hub, "--name", "test",
			"--ca", ca, NULL};
		assert_int_equal(run_out(&out, argv), 0);
		free(out);
	}
}

static uint16_t
read_port(const char *path)
{
	char *txt;
	uint16_t port = 0;
	int i;

	for (i = 0; i < 500 && port == 0; i++) {
		if ((txt = h_read_file(path, NULL)) != NULL) {
			port = (uint16_t)strtoul(txt, NULL, 10);
			free(txt);
		} else
			usleep(10000);
	}
	assert_true(port != 0);
	return port;
}

/* Starts a hub with its peer port (fixed when port != 0, so a restarted partner is found)
 * and clock (NULL: real). */
static uint16_t
start_clock(struct deployment *dep, uint16_t peer_port, const char *clock)
{
	char pf[800], ps[16];
	const char *extra[] = {"--peer-port", ps, "--peer-port-file", pf,
		clock != NULL ? "--clock" : NULL, clock, NULL};

	(void)snprintf(pf, sizeof(pf), "%s/%s.peerport", dep->dir,
		strstr(dep->hub, "/dhs") ? "dhs" : "hub");
	(void)snprintf(ps, sizeof(ps), "%u", (unsigned)peer_port);
	unlink(pf);
	h_hub_start_ex(dep, 0, extra);
	return read_port(pf);
}

static uint16_t
start(struct deployment *dep, uint16_t peer_port)
{
	return start_clock(dep, peer_port, NULL);
}

/* The partner's receive port in the national deployment's peers/dhs.addr. */
static void
tell_national(struct pair *p)
{
	char path[800], addr[64];

	(void)snprintf(path, sizeof(path), "%s/peers/dhs.addr", p->nat.hub);
	(void)snprintf(addr, sizeof(addr), "127.0.0.1:%u\n", (unsigned)p->par_peer);
	write_text(path, addr);
}

static void
pair_cleanup(struct pair *p)
{
	if (p->par.hub_pid > 0)
		h_hub_stop(&p->par, SIGKILL);
	h_cleanup(&p->nat); /* the partner lives in its own temporary tree */
	remove_tree(p->par.dir);
	live_trees[0][0] = live_trees[1][0] = '\0';
}

/* Enrols persons [from, to) of the synthetic population at the national hub. */
static void
enrol(struct pair *p, uint32_t from, uint32_t to)
{
	struct tls_conn *c;
	Paso__Envelope env, *ans;
	uint32_t i;
	int rc;

	c = c_connect(p->nat.hub, K, p->nat.port, &rc);
	assert_non_null(c);
	for (i = from; i < to; i++) {
		c_make_enroll(&env, K, p->seq++, i);
		assert_int_equal(c_send(c, &env), 0);
		c_free_enroll(&env);
		ans = c_recv(c);
		assert_non_null(ans);
		assert_int_equal(ans->body_case, PASO__ENVELOPE__BODY_ACK);
		paso__envelope__free_unpacked(ans, NULL);
	}
	tls_conn_free(c);
}

/* `paso-audit show DIR --json` */
static char *
show(const char *dir)
{
	char *out = NULL;
	const char *argv[] = {"paso-audit", "show", dir, "--json", NULL};

	assert_int_equal(run_out(&out, argv), 0);
	return out;
}

static size_t
count_in(const char *dir, const char *needle)
{
	char *out = show(dir);
	size_t n = h_count(out, needle);

	free(out);
	return n;
}

/* Waits until the partner's log holds want RECEIVE entries and the national log want SHARE. */
static void
wait_shares(struct pair *p, size_t want)
{
	size_t s = 0, r = 0;
	int i;

	for (i = 0; i < 600; i++) {
		s = count_in(p->nat.hub, "\"action\":\"SHARE\"");
		r = count_in(p->par.hub, "\"action\":\"RECEIVE\"");
		if (s >= want && r >= want)
			break;
		usleep(100000);
	}
	if (s != want || r != want)
		fprintf(stderr, "SHARE %zu, RECEIVE %zu, expected %zu each\n", s, r, want);
	assert_int_equal(s, want);
	assert_int_equal(r, want);
}

static int
query(struct pair *p, const char *purpose, const char *probe, char **out)
{
	char hub[64];
	const char *argv[] = {"paso-hub", "query", p->par.hub, "--hub", hub, "--purpose", purpose,
		"--probe", probe, NULL};

	(void)snprintf(hub, sizeof(hub), "127.0.0.1:%u", (unsigned)p->nat_peer);
	return run_out(out, argv);
}

static void
make_probe(struct pair *p, uint32_t person, const char *name, char *path, size_t cap)
{
	char ps[16], *out = NULL;
	const char *argv[] = {
		"paso-kiosk", "probe", "--seed", "5", "--person", ps, "--out", path, NULL};

	(void)snprintf(path, cap, "%s/%s", p->par.dir, name);
	(void)snprintf(ps, sizeof(ps), "%u", person);
	assert_int_equal(run_out(&out, argv), 0);
	free(out);
}

/* Whether any file under dir holds the len bytes at needle (a template in the clear). */
static int
bytes_on_disk(const char *dir, const uint8_t *needle, size_t len)
{
	char cmd[1200], line[1200];
	FILE *ls;
	int found = 0;

	(void)snprintf(cmd, sizeof(cmd), "find '%s' -type f", dir);
	assert_non_null(ls = popen(cmd, "r"));
	while (!found && fgets(line, sizeof(line), ls) != NULL) {
		size_t n = 0, i;
		char *buf;

		line[strcspn(line, "\n")] = '\0';
		if ((buf = h_read_file(line, &n)) == NULL)
			continue;
		for (i = 0; i + len <= n && !found; i++)
			if (memcmp(buf + i, needle, len) == 0) {
				fprintf(stderr, "template bytes in the clear in %s\n", line);
				found = 1;
			}
		free(buf);
	}
	pclose(ls);
	return found;
}

/* --- trust ------------------------------------------------------------------------------------ */

static void
test_trust_setup_refused_when_wrong(void **state)
{
	struct pair p;
	char ca[800], own[800], hubcrt[800], path[800], *out = NULL;

	(void)state;
	pair_setup(&p);
	(void)snprintf(ca, sizeof(ca), "%s/ca/ca.crt", p.par.hub);
	(void)snprintf(own, sizeof(own), "%s/ca/ca.crt", p.nat.hub);
	(void)snprintf(hubcrt, sizeof(hubcrt), "%s/hub/hub.crt", p.par.hub);
	{ /* the partner's CA under another name */
		const char *argv[] = {
			"paso-hub", "partner", "add", p.nat.hub, "--name", "cbp", "--ca", ca, NULL};
		assert_int_equal(run_out(&out, argv), 1);
		assert_non_null(strstr(out, "CERT"));
		assert_non_null(strstr(out, "is the CA of deployment 'dhs', not of 'cbp'"));
		free(out);
	}
	{ /* our own CA as a peer's */
		const char *argv[] = {"paso-hub", "partner", "add", p.nat.hub, "--name", "test2",
			"--ca", own, NULL};
		assert_int_equal(run_out(&out, argv), 1);
		assert_non_null(strstr(out, "own CA"));
		free(out);
	}
	{ /* a leaf certificate, not a CA */
		const char *argv[] = {"paso-hub", "partner", "add", p.nat.hub, "--name", "dhs2",
			"--ca", hubcrt, NULL};
		assert_int_equal(run_out(&out, argv), 1);
		assert_non_null(strstr(out, "not a self-signed CA"));
		free(out);
	}
	{ /* twice */
		const char *argv[] = {
			"paso-hub", "partner", "add", p.nat.hub, "--name", "dhs", "--ca", ca, NULL};
		assert_int_equal(run_out(&out, argv), 1);
		assert_non_null(strstr(out, "EXISTS"));
		free(out);
	}
	{ /* a bad name, and missing arguments */
		const char *argv[] = {"paso-hub", "partner", "add", p.nat.hub, "--name", "../x",
			"--ca", ca, NULL};
		const char *argv2[] = {
			"paso-hub", "partner", "add", p.nat.hub, "--name", "x", NULL};
		assert_int_equal(run_out(&out, argv), 1);
		assert_non_null(strstr(out, "--name '../x'"));
		free(out);
		assert_int_equal(run_out(&out, argv2), 2);
		free(out);
	}
	/* Nothing of the refused adds is trusted. */
	(void)snprintf(path, sizeof(path), "%s/peers/cbp.ca.crt", p.nat.hub);
	assert_int_not_equal(access(path, F_OK), 0);
	(void)snprintf(path, sizeof(path), "%s/peers/test2.ca.crt", p.nat.hub);
	assert_int_not_equal(access(path, F_OK), 0);
	/* The accepted add is in the national log. */
	assert_int_equal(count_in(p.nat.hub, "peer 'dhs' trusted"), 1);
	assert_int_equal(count_in(p.par.hub, "peer 'test' trusted"), 1);
	pair_cleanup(&p);
}

/* Connects with cert/key, trusting ca; 1 if an enrolment is acknowledged, else 0. */
static int
talks(const char *cert, const char *key, const char *ca, uint16_t port)
{
	struct tls_ctx *ctx = NULL;
	struct tls_conn *c = NULL;
	struct paso_diag d = {0};
	Paso__Envelope env, *ans = NULL;
	int ok = 0;

	if (tls_ctx_new_client(cert, key, ca, "paso-hub", &ctx, &d) != 0)
		return 0;
	if (tls_connect(ctx, "127.0.0.1", port, 5000, &c, &d) == 0) {
		c_make_enroll(&env, K, 999, 1);
		if (c_send(c, &env) == 0 && (ans = c_recv(c)) != NULL) {
			ok = ans->body_case == PASO__ENVELOPE__BODY_ACK;
			paso__envelope__free_unpacked(ans, NULL);
		}
		c_free_enroll(&env);
	}
	tls_conn_free(c);
	tls_ctx_free(ctx);
	return ok;
}

static void
test_certificates_never_cross_roles(void **state)
{
	struct pair p;
	char pc[800], pk[800], natca[800], parca[800], kc[800], kk[800], nc[800], nk[800];
	char *log;

	(void)state;
	pair_setup(&p);
	p.par_peer = start(&p.par, 0);
	p.nat_peer = start(&p.nat, 0);
	(void)snprintf(pc, sizeof(pc), "%s/peers/test.crt", p.par.hub); /* partner's peer cert */
	(void)snprintf(pk, sizeof(pk), "%s/peers/test.key", p.par.hub);
	(void)snprintf(natca, sizeof(natca), "%s/ca/ca.crt", p.nat.hub);
	(void)snprintf(parca, sizeof(parca), "%s/ca/ca.crt", p.par.hub);
	(void)snprintf(kc, sizeof(kc), "%s/kiosks/" K ".crt", p.nat.hub);
	(void)snprintf(kk, sizeof(kk), "%s/kiosks/" K ".key", p.nat.hub);
	(void)snprintf(nc, sizeof(nc), "%s/peers/dhs.crt", p.nat.hub); /* national's peer cert */
	(void)snprintf(nk, sizeof(nk), "%s/peers/dhs.key", p.nat.hub);
	/* A kiosk on its own port is served (the control case). */
	assert_int_equal(talks(kc, kk, natca, p.nat.port), 1);
	/* The partner's certificate cannot act as a kiosk. */
	assert_int_equal(talks(pc, pk, natca, p.nat.port), 0);
	/* The national hub's own peer certificate (signed by its CA, CN .peer.test) is no kiosk. */
	assert_int_equal(talks(nc, nk, natca, p.nat.port), 0);
	/* A kiosk certificate cannot act as a partner on the partner port. */
	assert_int_equal(talks(kc, kk, natca, p.nat_peer), 0);
	/* Nor as the national hub on the partner's receive port, although the partner trusts the
	 * national CA: the name must be .peer.test. */
	assert_int_equal(talks(kc, kk, parca, p.par_peer), 0);
	h_hub_stop(&p.nat, SIGTERM);
	h_hub_stop(&p.par, SIGTERM);
	log = h_read_file(p.par.log, NULL);
	assert_non_null(log);
	assert_non_null(strstr(log, "is not a peer certificate"));
	free(log);
	log = h_read_file(p.nat.log, NULL);
	assert_non_null(log);
	assert_non_null(strstr(log, "kiosk '.peer.test' is not registered"));
	assert_non_null(strstr(log, "partner port: connection refused"));
	free(log);
	pair_cleanup(&p);
}

/* --- hit/no-hit -------------------------------------------------------------------------------- */

static void
test_hit_no_hit(void **state)
{
	struct pair p;
	char hit[800], miss[800], bad[800], *out = NULL, *logn, *logp;
	Paso__Capture *cap;
	size_t n = 0;
	char *raw;

	(void)state;
	pair_setup(&p);
	p.nat_peer = start(&p.nat, 0);
	enrol(&p, 0, 6);
	make_probe(&p, 2, "hit.cap", hit, sizeof(hit));
	make_probe(&p, 400, "miss.cap", miss, sizeof(miss));
	/* Enrolled person: hit with a 64-hex-digit case token, exit 0. */
	assert_int_equal(query(&p, PURPOSE, hit, &out), 0);
	assert_non_null(strstr(out, "hit: case token "));
	free(out);
	/* Never enrolled: no hit, exit 3. */
	assert_int_equal(query(&p, PURPOSE, miss, &out), 3);
	assert_non_null(strstr(out, "no hit"));
	free(out);
	/* A purpose the policy does not allow: refused, exit 4, and not counted in the budget. */
	assert_int_equal(query(&p, "general curiosity", miss, &out), 4);
	assert_non_null(strstr(out, "PURPOSE_DENIED (-71)"));
	free(out);
	/* A probe that is not a capture: refused locally, exit 1, the hub never hears of it. */
	(void)snprintf(bad, sizeof(bad), "%s/bad.cap", p.par.dir);
	write_text(bad, "this is not a capture");
	assert_int_equal(query(&p, PURPOSE, bad, &out), 1);
	assert_non_null(strstr(out, "DECODE"));
	free(out);
	/* Budget of 4 a day: two more answered, then BUDGET_EXCEEDED. */
	assert_int_equal(query(&p, PURPOSE, hit, &out), 0);
	free(out);
	assert_int_equal(query(&p, PURPOSE, miss, &out), 3);
	free(out);
	assert_int_equal(query(&p, PURPOSE, hit, &out), 4);
	assert_non_null(strstr(out, "BUDGET_EXCEEDED (-72)"));
	free(out);
	h_hub_stop(&p.nat, SIGTERM);
	/* National log: six QUERY entries (the bad probe never arrived), codes as answered. */
	logn = show(p.nat.hub);
	assert_int_equal(h_count(logn, "\"action\":\"QUERY\""), 6);
	assert_int_equal(h_count(logn, "\"code_name\":\"PURPOSE_DENIED\""), 1);
	assert_int_equal(h_count(logn, "\"code_name\":\"BUDGET_EXCEEDED\""), 1);
	assert_int_equal(h_count(logn, "\"detail\":\"hit: case token"), 2);
	assert_int_equal(h_count(logn, "\"detail\":\"no hit"), 2);
	/* The partner keeps its own record of each query it sent and its answer class. */
	logp = show(p.par.hub);
	assert_int_equal(h_count(logp, "\"action\":\"QUERY\""), 6);
	assert_int_equal(h_count(logp, "): hit, case token"), 2);
	assert_int_equal(h_count(logp, "): no hit"), 2);
	assert_int_equal(h_count(logp, "refused PURPOSE_DENIED"), 1);
	free(logn);
	free(logp);
	/* The probe is never stored: its iris code is nowhere in the national deployment. */
	raw = h_read_file(hit, &n);
	assert_non_null(raw);
	cap = paso__capture__unpack(NULL, n, (const uint8_t *)raw);
	assert_non_null(cap);
	assert_true(cap->n_iris > 0);
	assert_int_equal(bytes_on_disk(p.nat.hub, cap->iris[0]->code.data, 64), 0);
	paso__capture__free_unpacked(cap, NULL);
	free(raw);
	{ /* the store holds the six enrolled, nobody else */
		const char *argv[] = {"paso-hub", "stats", p.nat.hub, "--json", NULL};
		assert_int_equal(run_out(&out, argv), 0);
		assert_int_equal(h_json_num(out, "subjects"), 6);
		free(out);
	}
	pair_cleanup(&p);
}

/* The national hub under a protection policy: it holds only protected references, and a
 * partner's hit/no-hit query is answered from them (the probe protected under the hub's key). */
static const char national_protected_yaml[] =
	"name: national-protected\n"
	"store:\n  finger: true\n  face: true\n  iris: true\n"
	"protect:\n  finger: pmcc\n  face: polyprotect\n  iris: bloom\n"
	"sharing:\n"
	"  - partner: dhs\n    what: hit_no_hit\n    categories: all\n"
	"    purpose: " PURPOSE "\n    retention_days: 30\n";

static void
test_hit_no_hit_protected(void **state)
{
	struct pair p;
	char hit[800], hit2[800], miss[800], *out = NULL, *logn;
	uint32_t i;

	(void)state;
	pair_setup_with(&p, national_protected_yaml);
	p.nat_peer = start(&p.nat, 0);
	enrol(&p, 0, 6);
	make_probe(&p, 2, "hit.cap", hit, sizeof(hit));
	make_probe(&p, 5, "hit2.cap", hit2, sizeof(hit2));
	make_probe(&p, 400, "miss.cap", miss, sizeof(miss));
	for (i = 0; i < 2; i++) {
		assert_int_equal(query(&p, PURPOSE, i == 0 ? hit : hit2, &out), 0);
		assert_non_null(strstr(out, "hit: case token "));
		free(out);
	}
	assert_int_equal(query(&p, PURPOSE, miss, &out), 3);
	assert_non_null(strstr(out, "no hit"));
	free(out);
	h_hub_stop(&p.nat, SIGTERM);
	logn = show(p.nat.hub);
	assert_int_equal(h_count(logn, "\"action\":\"QUERY\""), 3);
	assert_int_equal(h_count(logn, "\"detail\":\"hit: case token"), 2);
	assert_int_equal(h_count(logn, "\"detail\":\"no hit"), 1);
	free(logn);
	pair_cleanup(&p);
}

/* --- a partner's own protected form ---------------------------------------------------------- */

static const char national_protected_templates_yaml[] =
	"name: national-protected\n"
	"store:\n  finger: true\n  face: true\n  iris: true\n"
	"protect:\n  finger: pmcc\n  face: polyprotect\n  iris: bloom\n"
	"sharing:\n"
	"  - partner: dhs\n    what: templates\n    categories: all\n"
	"    purpose: bulk screening\n    retention_days: 3650\n";

#define PF_PEOPLE 24

/* Protected forms read from a sealed store: the hub's own and one partner's, by subject. */
struct forms {
	const char *partner; /* which partner_forms entry */
	struct pref *own[PF_PEOPLE + 8], *part[PF_PEOPLE + 8];
	size_t n;
};

static int
collect_forms(void *arg, const uint8_t id[VAULT_ID_BYTES], const uint8_t *rec, size_t len)
{
	struct forms *f = arg;
	Paso__SubjectRecord *sr;
	struct paso_diag d = {0};
	size_t i;

	(void)id;
	assert_non_null(sr = paso__subject_record__unpack(NULL, len, rec));
	assert_true(f->n < PF_PEOPLE + 8);
	/* no raw biometric field anywhere in the record */
	assert_true(sr->templates == NULL ||
		    (sr->templates->face == NULL && sr->templates->n_iris == 0 &&
			    sr->templates->finger_record.len == 0));
	f->own[f->n] = f->part[f->n] = NULL;
	if (sr->protected_templates != NULL)
		assert_int_equal(protref_from_pb(sr->protected_templates, &f->own[f->n], &d), 0);
	for (i = 0; i < sr->n_partner_forms; i++)
		if (strcmp(sr->partner_forms[i]->partner, f->partner) == 0)
			assert_int_equal(
				protref_from_pb(sr->partner_forms[i]->form, &f->part[f->n], &d), 0);
	f->n++;
	paso__subject_record__free_unpacked(sr, NULL);
	return 0;
}

static void
read_forms(const char *hub, struct forms *f, struct keyring **krp)
{
	struct paso_diag d = {0};
	struct keyring *kr = NULL;
	struct vault *v = NULL;
	struct vault_txn *t = NULL;
	char keys[700];

	(void)snprintf(keys, sizeof(keys), "%s/keys", hub);
	assert_int_equal(keyring_open(keys, &kr, &d), 0);
	assert_int_equal(vault_open(hub, kr, &v, &d), 0);
	assert_int_equal(vault_begin(v, 1, &t), 0);
	assert_int_equal(vault_subject_foreach(t, collect_forms, f), 0);
	vault_abort(t);
	vault_close(v);
	if (krp != NULL)
		*krp = kr;
	else
		keyring_close(kr);
}

/* Person i's capture capture_no (the population the test client enrols from), protected
 * under key kr's holder at generation gen. */
static struct pref *
protected_capture(
	struct keyring *kr, const char *holder, uint32_t gen, uint32_t i, uint32_t capture_no)
{
	uint8_t key[KEYRING_PROTECT_KEY_BYTES];
	struct population *pop = NULL;
	struct protect_key *k = NULL;
	struct pref *p = NULL;
	struct bio_sample s;

	assert_int_equal(keyring_protect_key(kr, gen, holder, key, NULL), 0);
	assert_int_equal(protect_key_new(key, &k), 0);
	sodium_memzero(key, sizeof(key));
	assert_int_equal(population_new(5, i + 1, &pop), 0);
	assert_int_equal(capture_take(pop, i, capture_no, PRESET_GOOD, &s), 0);
	assert_int_equal(pref_new(k, gen, &s, BIO_FINGER | BIO_FACE | BIO_IRIS, &p, NULL), 0);
	bio_sample_clear(&s);
	population_free(pop);
	protect_key_free(k);
	return p;
}

/*
 * Under protection, a templates rule sends the partner its own form, made at enrolment under
 * the key "partner:dhs": the partner stores it sealed, it matches that person's next capture
 * protected under the partner's key and nobody else's, and it cannot be linked to the hub's
 * own reference of the person (D<->sys between the two keys on a test population).
 */
static void
test_partner_gets_its_own_protected_form(void **state)
{
	struct pair p;
	struct forms nat = {"dhs", {0}, {0}, 0}, par = {"test", {0}, {0}, 0};
	struct keyring *kr = NULL;
	struct pgallery *g = NULL;
	uint32_t gen, i;
	size_t found_mates = 0, k;
	char *logp;

	(void)state;
	pair_setup_with(&p, national_protected_templates_yaml);
	p.par_peer = start(&p.par, 0);
	tell_national(&p);
	p.nat_peer = start(&p.nat, 0);
	enrol(&p, 0, PF_PEOPLE);
	wait_shares(&p, PF_PEOPLE);
	h_hub_stop(&p.nat, SIGTERM);
	h_hub_stop(&p.par, SIGTERM);
	logp = show(p.par.hub);
	assert_int_equal(h_count(logp, "received protected templates"), PF_PEOPLE);
	free(logp);
	/* the national store: each subject's own reference and the partner's form, both sealed */
	read_forms(p.nat.hub, &nat, &kr);
	assert_int_equal(nat.n, PF_PEOPLE);
	for (k = 0; k < nat.n; k++) {
		struct match_scores sc;

		assert_non_null(nat.own[k]);
		assert_non_null(nat.part[k]);
		/* the same capture under the two keys: not comparable as one person's */
		assert_int_equal(pref_compare(nat.own[k], nat.part[k], &sc), 0);
		assert_false(match_decide(&sc, 1e-4));
	}
	gen = nat.part[0]->gen;
	/* the partner's store: its own forms, sealed under its keys */
	read_forms(p.par.hub, &par, NULL);
	assert_int_equal(par.n, PF_PEOPLE);
	assert_int_equal(pgallery_new(&g), 0);
	for (k = 0; k < par.n; k++) {
		uint8_t id[16] = {0};

		assert_null(par.own[k]); /* kept apart from references of its own */
		assert_non_null(par.part[k]);
		memcpy(id, &k, sizeof(uint32_t));
		assert_int_equal(pgallery_put(g, id, par.part[k], 0, NULL), 0);
		par.part[k] = NULL;
	}
	/* hit/no-hit on the partner's forms: a fresh capture under the partner's key */
	for (i = 0; i < PF_PEOPLE + 6; i++) {
		struct pref *pr =
			protected_capture(kr, "partner:dhs", gen, i < PF_PEOPLE ? i : 400 + i, 1);
		const struct pref *pp = pr;
		struct match_scores best;
		uint8_t bid[16];
		int found;

		assert_int_equal(
			pgallery_identify(g, &pp, 1, 1e-6 / PF_PEOPLE, bid, &best, &found), 0);
		if (i < PF_PEOPLE)
			found_mates += (size_t)found;
		else
			assert_false(found);
		pref_free(pr);
		/* the hub's key on the partner's forms finds nobody */
		if (i < 4) {
			pr = protected_capture(kr, "hub", gen, i, 1);
			pp = pr;
			assert_int_equal(
				pgallery_identify(g, &pp, 1, 1e-6 / PF_PEOPLE, bid, &best, &found),
				0);
			assert_false(found);
			pref_free(pr);
		}
	}
	assert_int_equal(found_mates, PF_PEOPLE);
	/* unlinkable: D<->sys of the hub's key against the partner's on a test population */
	{
		enum { NP = 160 };
		struct pref *h[NP], *q[NP];
		double *mated = calloc(NP, sizeof(double)), *non = calloc(NP * 40, sizeof(double)),
		       d;
		size_t nm = 0, nn = 0;
		uint32_t j;

		assert_non_null(mated);
		assert_non_null(non);
		for (i = 0; i < NP; i++) {
			h[i] = protected_capture(kr, "hub", gen, 1000 + i, 2);
			q[i] = protected_capture(kr, "partner:dhs", gen, 1000 + i, 3);
		}
		for (i = 0; i < NP; i++) {
			mated[nm++] = face_cosine_q(&h[i]->face, &q[i]->face);
			for (j = 1; j <= 40; j++)
				non[nn++] = face_cosine_q(&h[i]->face, &q[(i + j) % NP]->face);
		}
		d = protect_metrics_dsys(mated, nm, non, nn, 20);
		print_message("face D<->sys hub key vs partner key: %.3f\n", d);
		assert_true(d >= 0 && d < 0.15);
		for (i = 0; i < NP; i++) {
			pref_free(h[i]);
			pref_free(q[i]);
		}
		free(mated);
		free(non);
	}
	for (k = 0; k < nat.n; k++) {
		pref_free(nat.own[k]);
		pref_free(nat.part[k]);
	}
	pgallery_free(g);
	keyring_close(kr);
	pair_cleanup(&p);
}

static void
test_query_from_partner_without_rules(void **state)
{
	struct pair p;
	char cbp[700], ca[800], natca[800], probe[800], hub[64], *out = NULL;

	(void)state;
	pair_setup(&p);
	/* A second partner, trusted at setup, but no sharing rule names it. */
	(void)snprintf(cbp, sizeof(cbp), "%s/cbp", p.par.dir);
	{
		const char *argv[] = {
			"paso-hub", "init", cbp, "--name", "cbp", "--role", "partner", NULL};
		assert_int_equal(run_out(&out, argv), 0);
		free(out);
	}
	(void)snprintf(ca, sizeof(ca), "%s/ca/ca.crt", cbp);
	(void)snprintf(natca, sizeof(natca), "%s/ca/ca.crt", p.nat.hub);
	{
		const char *a1[] = {
			"paso-hub", "partner", "add", p.nat.hub, "--name", "cbp", "--ca", ca, NULL};
		const char *a2[] = {
			"paso-hub", "partner", "add", cbp, "--name", "test", "--ca", natca, NULL};
		assert_int_equal(run_out(&out, a1), 0);
		free(out);
		assert_int_equal(run_out(&out, a2), 0);
		free(out);
	}
	p.nat_peer = start(&p.nat, 0);
	make_probe(&p, 1, "p.cap", probe, sizeof(probe));
	(void)snprintf(hub, sizeof(hub), "127.0.0.1:%u", (unsigned)p.nat_peer);
	{
		const char *argv[] = {"paso-hub", "query", cbp, "--hub", hub, "--purpose", PURPOSE,
			"--probe", probe, NULL};
		assert_int_equal(run_out(&out, argv), 4);
		assert_non_null(strstr(out, "UNKNOWN_PARTNER (-70)"));
		free(out);
	}
	{ /* the national deployment is no partner: it cannot send queries */
		const char *argv[] = {"paso-hub", "query", p.nat.hub, "--hub", hub, "--purpose",
			PURPOSE, "--probe", probe, NULL};
		assert_int_equal(run_out(&out, argv), 1);
		assert_non_null(strstr(out, "not a partner deployment"));
		free(out);
	}
	{ /* bad --hub */
		const char *argv[] = {"paso-hub", "query", cbp, "--hub", "127.0.0.1", "--purpose",
			PURPOSE, "--probe", probe, NULL};
		assert_int_equal(run_out(&out, argv), 2);
		assert_non_null(strstr(out, "--hub: expected HOST:PORT"));
		free(out);
	}
	h_hub_stop(&p.nat, SIGTERM);
	assert_int_equal(count_in(p.nat.hub, "\"code_name\":\"UNKNOWN_PARTNER\""), 1);
	pair_cleanup(&p);
}

/* --- bulk shares ------------------------------------------------------------------------------ */

/* Sends raw text to a deployment's control socket and returns its answer line. */
static void
control_raw(const char *dir, const char *text, char *ans, size_t cap)
{
	struct sockaddr_un sa;
	ssize_t n;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	(void)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control.sock", dir);
	assert_true((fd = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	n = read(fd, ans, cap - 1);
	assert_true(n > 0);
	ans[n] = '\0';
	close(fd);
}

/*
 * Reads `paso-hub query`'s answer lines "probe N: ..." for probes 1..n: a hit only for a probe of
 * an enrolled person, "no hit" only for one never enrolled, anything else refused for the budget.
 */
static void
tally_answers(const char *out, int n, const int *enrolled, int *hits, int *misses, int *refused)
{
	char line[40];
	const char *at;

	for (int i = 0; i < n; i++) {
		(void)snprintf(line, sizeof(line), "probe %d: ", i + 1);
		assert_non_null(at = strstr(out, line));
		at += strlen(line);
		if (strncmp(at, "hit: case token ", 16) == 0) {
			assert_true(enrolled[i]);
			(*hits)++;
		} else if (strncmp(at, "no hit", 6) == 0) {
			assert_false(enrolled[i]);
			(*misses)++;
		} else {
			assert_int_equal(strncmp(at, "refused: BUDGET_EXCEEDED", 24), 0);
			(*refused)++;
		}
	}
}

/*
 * The pair serving, six people enrolled at the national hub (persons 0..5): hub (64 bytes) gets
 * the national peer address, list and set (800 bytes each) the partner's probe list, holding
 * lines, and the probe set paso-kiosk made from it (its output in *out; the caller frees it).
 */
static void
query_pair_start(struct pair *p, char *hub, char *list, char *set, const char *lines, char **out)
{
	const char *a[] = {
		"paso-kiosk", "probe", "--seed", "5", "--list", list, "--out", set, NULL};

	pair_setup(p);
	p->par_peer = start(&p->par, 0);
	tell_national(p);
	p->nat_peer = start(&p->nat, 0);
	enrol(p, 0, 6);
	(void)snprintf(hub, 64, "127.0.0.1:%u", (unsigned)p->nat_peer);
	(void)snprintf(list, 800, "%s/probes.list", p->par.dir);
	(void)snprintf(set, 800, "%s/probes.set", p->par.dir);
	write_text(list, lines);
	assert_int_equal(run_out(out, a), 0);
}

/* A day's queries as one probe set over two links: a line each in the set's order, the
 * budget counted across the links, the partner's own entries written by its serving hub. */
static void
test_query_batch(void **state)
{
	struct pair p;
	char list[800], set[800], one[800], hub[64], ans[700], *out = NULL;
	const char *argv[] = {"paso-hub", "query", NULL, "--hub", hub, "--purpose", PURPOSE,
		"--probes", set, "--connections", "2", NULL};
	/* persons: enrolled 2, never 400, enrolled 3, never 401, enrolled 5 */
	const int enrolled[5] = {1, 0, 1, 0, 1};
	int hits = 0, misses = 0, refused = 0;

	(void)state;
	query_pair_start(&p, hub, list, set, "2 1000\n400 1000\n3 1000\n401 1000\n5 1000\n", &out);
	assert_non_null(strstr(out, "5 probes"));
	free(out);
	argv[2] = p.par.hub;
	assert_int_equal(run_out(&out, argv), 0);
	/* Budget 4 a day: four answered, one refused, whichever reached the hub last. */
	tally_answers(out, 5, enrolled, &hits, &misses, &refused);
	assert_int_equal(hits + misses, 4);
	assert_int_equal(refused, 1);
	free(out);
	/* The partner's serving hub recorded all five, in one batch. */
	assert_int_equal(count_in(p.par.hub, "\"action\":\"QUERY\""), 5);
	assert_int_equal(count_in(p.par.hub, "refused BUDGET_EXCEEDED"), 1);
	assert_int_equal(count_in(p.nat.hub, "\"action\":\"QUERY\""), 5);
	/* A malformed batch of notes changes nothing. */
	control_raw(p.par.hub, "query-notes 2\n0 fine\nnot a note\n", ans, sizeof(ans));
	assert_non_null(strstr(ans, "line 2 of 2 is not CODE DETAIL"));
	control_raw(p.par.hub, "query-notes 0\n", ans, sizeof(ans));
	assert_non_null(strstr(ans, "N is 1..256"));
	assert_int_equal(count_in(p.par.hub, "\"action\":\"QUERY\""), 5);
	/* Bad arguments and files: refused before anything is sent. */
	make_probe(&p, 2, "one.cap", one, sizeof(one));
	{
		const char *a[] = {"paso-hub", "query", p.par.hub, "--hub", hub, "--purpose",
			PURPOSE, "--probes", one, NULL};
		assert_int_equal(run_out(&out, a), 1);
		assert_non_null(strstr(out, "not a probe set"));
		free(out);
	}
	{
		const char *a[] = {"paso-hub", "query", p.par.hub, "--hub", hub, "--purpose",
			PURPOSE, "--probes", set, "--probe", one, NULL};
		assert_int_equal(run_out(&out, a), 2);
		assert_non_null(strstr(out, "one or the other"));
		free(out);
	}
	{
		const char *a[] = {"paso-hub", "query", p.par.hub, "--hub", hub, "--purpose",
			PURPOSE, "--probes", set, "--connections", "0", NULL};
		assert_int_equal(run_out(&out, a), 2);
		assert_non_null(strstr(out, "--connections: 1..32"));
		free(out);
	}
	write_text(list, "2 1000\nnot a line\n");
	{
		const char *a[] = {"paso-kiosk", "probe", "--list", list, "--out", one, NULL};
		assert_int_equal(run_out(&out, a), 2);
		assert_non_null(strstr(out, "line 2: expected PERSON CAPTURE_NO"));
		free(out);
	}
	{
		/* a priority out of 0..19 is named, and nothing is written */
		const char *a[] = {
			"paso-kiosk", "probe", "--person", "2", "--nice", "20", "--out", one, NULL};
		(void)unlink(one);
		assert_int_equal(run_out(&out, a), 2);
		assert_non_null(strstr(out, "bad argument '20'"));
		assert_int_equal(access(one, F_OK), -1);
		free(out);
	}
	assert_int_equal(count_in(p.nat.hub, "\"action\":\"QUERY\""), 5);
	h_hub_stop(&p.nat, SIGTERM);
	h_hub_stop(&p.par, SIGTERM);
	pair_cleanup(&p);
}

/*
 * Queries from several links, each sending probes ahead of their answers, are committed together
 * (shared transactions) and answered in each link's order (the client checks every answer's
 * seq): the day's budget is still spent one query at a time, exactly, and every query has its
 * entry on both sides.
 */
static void
test_query_links_budget_exact(void **state)
{
	struct pair p;
	char list[800], set[800], hub[64], text[400], *out = NULL;
	const char *argv[] = {"paso-hub", "query", NULL, "--hub", hub, "--purpose", PURPOSE,
		"--probes", set, "--connections", "4", NULL};
	int i, enrolled[16], hits = 0, misses = 0, refused = 0;
	size_t len = 0;

	(void)state;
	/* even lines: enrolled people 2..5; odd lines: people never enrolled */
	for (i = 0; i < 16; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%d 1000\n",
			i % 2 == 0 ? 2 + (i / 2) % 4 : 400 + i);
	query_pair_start(&p, hub, list, set, text, &out);
	free(out);
	argv[2] = p.par.hub;
	assert_int_equal(run_out(&out, argv), 0);
	for (i = 0; i < 16; i++)
		enrolled[i] = i % 2 == 0;
	tally_answers(out, 16, enrolled, &hits, &misses, &refused);
	/* Budget 4 a day: four answered, whichever came first, the other twelve refused. */
	assert_int_equal(hits + misses, 4);
	assert_int_equal(refused, 12);
	free(out);
	assert_int_equal(count_in(p.nat.hub, "\"action\":\"QUERY\""), 16);
	assert_int_equal(count_in(p.nat.hub, "today's budget of 4 queries"), 12);
	assert_int_equal(count_in(p.par.hub, "\"action\":\"QUERY\""), 16);
	h_hub_stop(&p.nat, SIGTERM);
	h_hub_stop(&p.par, SIGTERM);
	pair_cleanup(&p);
}

static void
test_bulk_shares_counted_on_both_sides(void **state)
{
	struct pair p;
	Paso__Envelope env;
	char *out = NULL, *logn, *logp, *at, pseud[65];
	size_t i;

	(void)state;
	pair_setup(&p);
	p.par_peer = start(&p.par, 0);
	tell_national(&p);
	p.nat_peer = start(&p.nat, 0);
	enrol(&p, 0, 25);
	/* Two bulk rules: one SHARE and one RECEIVE per record per rule. */
	wait_shares(&p, 50);
	/* A query while the partner's hub serves: its hub writes the partner's QUERY entry. */
	{
		char probe[800];

		make_probe(&p, 4, "p4.cap", probe, sizeof(probe));
		assert_int_equal(query(&p, PURPOSE, probe, &out), 0);
		free(out);
	}
	h_hub_stop(&p.nat, SIGTERM);
	h_hub_stop(&p.par, SIGTERM);
	assert_int_equal(count_in(p.par.hub, "): hit, case token"), 1);
	{
		const char *argv[] = {"paso-hub", "stats", p.par.hub, "--json", "--recount", NULL};
		assert_int_equal(run_out(&out, argv), 0);
		assert_int_equal(h_json_num(out, "subjects"), 50);
		assert_int_equal(
			h_json_num(out, "with_iris"), 25); /* templates only under one rule */
		free(out);
	}
	logn = show(p.nat.hub);
	logp = show(p.par.hub);
	assert_int_equal(h_count(logn, "\"policy_rule\":\"sharing[1]\""), 25);
	assert_int_equal(h_count(logn, "\"policy_rule\":\"sharing[2]\""), 25);
	assert_int_equal(h_count(logp, "\"action\":\"RECEIVE\",\"actor\":\"test\""), 50);
	/* Every pseudonym the national log says it shared is the subject of a RECEIVE entry, and
	 * none is the national hub's own pseudonym of the person. */
	for (at = logn, i = 0; (at = strstr(at, "\"detail\":\"shared ")) != NULL; i++) {
		char needle[100];

		at = strstr(at, " as ") + 4;
		memcpy(pseud, at, 64);
		pseud[64] = '\0';
		(void)snprintf(needle, sizeof(needle), "\"subject\":\"%s\"", pseud);
		assert_int_equal(h_count(logp, needle), 2);
		assert_int_equal(h_count(logn, needle), 0);
	}
	assert_int_equal(i, 50);
	free(logn);
	free(logp);
	/* No template byte in the clear: not in the national store (outbox included), nor in the
	 * partner's store, nor in either log. */
	for (i = 0; i < 25; i += 6) {
		c_make_enroll(&env, K, 1, (uint32_t)i);
		assert_true(env.enroll->capture->n_iris > 0);
		assert_int_equal(
			bytes_on_disk(p.nat.hub, env.enroll->capture->iris[0]->code.data, 64), 0);
		assert_int_equal(
			bytes_on_disk(p.par.hub, env.enroll->capture->iris[0]->code.data, 64), 0);
		c_free_enroll(&env);
	}
	{ /* every SHARE has its RECEIVE and back, each proven in its signed log */
		const char *argv[] = {"paso-audit", "shares", p.nat.hub, p.par.hub, NULL};
		assert_int_equal(run_out(&out, argv), 0);
		assert_non_null(strstr(out, "shares from 'test' to 'dhs': 50 SHARE entries, 50 "
					    "RECEIVE entries, 50 matched one to one"));
		free(out);
	}
	{ /* both logs verify */
		const char *a1[] = {"paso-audit", "verify", p.nat.hub, NULL};
		const char *a2[] = {"paso-audit", "verify", p.par.hub, NULL};
		assert_int_equal(run_out(&out, a1), 0);
		free(out);
		assert_int_equal(run_out(&out, a2), 0);
		free(out);
	}
	pair_cleanup(&p);
}

/* share_seq values in the partner's RECEIVE entries: each of 1..n exactly once. */
static void
assert_exactly_once(const char *dir, size_t n)
{
	char *log = show(dir), needle[64];
	size_t s;

	for (s = 1; s <= n; s++) {
		(void)snprintf(needle, sizeof(needle), "(share_seq %zu) from", s);
		if (h_count(log, needle) != 1)
			fprintf(stderr, "share_seq %zu received %zu times\n", s,
				h_count(log, needle));
		assert_int_equal(h_count(log, needle), 1);
	}
	free(log);
}

static size_t
received_lines(const char *log)
{
	char *txt = h_read_file(log, NULL);
	size_t n = txt ? h_count(txt, "received ") : 0;

	free(txt);
	return n;
}

/* Polls the partner's hub log until one more batch arrived (mid-stream), or 10 s. */
static void
wait_one_more_batch(const char *log)
{
	size_t was = received_lines(log);
	int i;

	for (i = 0; i < 1000 && received_lines(log) <= was; i++)
		usleep(10000);
}

static void
test_kill9_either_side_exactly_once(void **state)
{
	struct pair p;
	char kiosks[800], hub[64], *out = NULL;
	const uint32_t people = 150;

	(void)state;
	pair_setup(&p);
	p.par_peer = start(&p.par, 0);
	tell_national(&p);
	p.nat_peer = start(&p.nat, 0);
	(void)snprintf(kiosks, sizeof(kiosks), "%s/kw", p.nat.dir);
	(void)snprintf(hub, sizeof(hub), "127.0.0.1:%u", (unsigned)p.nat.port);
	{
		const char *argv[] = {"paso-kiosk", "run", "--deployment", p.nat.hub, "--hub", hub,
			"--people", "150", "--crossings", "0", "--identify", "0", "--seed", "7",
			"--workdir", kiosks, NULL};
		pid_t kp = h_spawn(p.nat.log, argv);

		/* The partner dies mid-stream, then comes back on the same port. */
		wait_one_more_batch(p.par.log);
		assert_true(h_hub_stop(&p.par, SIGKILL) != 0);
		usleep(300000);
		p.par_peer = start(&p.par, p.par_peer);
		/* Then the national hub dies mid-stream (kiosks resend what it never acked). */
		wait_one_more_batch(p.par.log);
		assert_true(h_hub_stop(&p.nat, SIGKILL) != 0);
		{
			char pf[800], ps[16];
			const char *extra[] = {"--peer-port-file", pf, NULL};

			(void)snprintf(pf, sizeof(pf), "%s/hub.peerport", p.nat.dir);
			(void)ps;
			/* The kiosks retry the same port. */
			h_hub_start_ex(&p.nat, p.nat.port, extra);
		}
		assert_int_equal(h_wait(kp), 0);
	}
	{
		const char *argv[] = {"paso-hub", "stats", p.nat.hub, "--json", NULL};
		long long subjects;

		h_hub_stop(&p.nat, SIGTERM);
		assert_int_equal(run_out(&out, argv), 0);
		subjects = h_json_num(out, "subjects");
		free(out);
		assert_true(subjects > 100 && subjects <= people);
		start(&p.nat, 0);
		wait_shares(&p, (size_t)subjects * 2);
		h_hub_stop(&p.nat, SIGTERM);
		h_hub_stop(&p.par, SIGTERM);
		assert_exactly_once(p.par.hub, (size_t)subjects * 2);
		{
			const char *a3[] = {"paso-audit", "shares", p.nat.hub, p.par.hub, NULL};
			char want[96];

			(void)snprintf(want, sizeof(want), "%lld matched one to one", subjects * 2);
			assert_int_equal(run_out(&out, a3), 0);
			assert_non_null(strstr(out, want));
			free(out);
		}
		{
			const char *a2[] = {
				"paso-hub", "stats", p.par.hub, "--json", "--recount", NULL};
			assert_int_equal(run_out(&out, a2), 0);
			assert_int_equal(h_json_num(out, "subjects"), subjects * 2);
			free(out);
		}
	}
	pair_cleanup(&p);
}

/* Sends one ShareBatch to the partner as the national hub would; returns the answer. */
static Paso__Envelope *
send_batch(struct pair *p, const uint64_t *seqs, size_t n, size_t subject_len)
{
	struct tls_ctx *ctx = NULL;
	struct tls_conn *c = NULL;
	struct paso_diag d = {0};
	char cert[800], key[800], ca[800];
	Paso__Envelope env = PASO__ENVELOPE__INIT, *ans;
	Paso__ShareBatch b = PASO__SHARE_BATCH__INIT;
	Paso__SharedRecord r[8], *rp[8];
	uint8_t subj[8][32];
	size_t i;

	(void)snprintf(cert, sizeof(cert), "%s/peers/dhs.crt", p->nat.hub);
	(void)snprintf(key, sizeof(key), "%s/peers/dhs.key", p->nat.hub);
	(void)snprintf(ca, sizeof(ca), "%s/peers/dhs.ca.crt", p->nat.hub);
	assert_int_equal(tls_ctx_new_client(cert, key, ca, "paso-hub", &ctx, &d), 0);
	assert_int_equal(tls_connect(ctx, "127.0.0.1", p->par_peer, 5000, &c, &d), 0);
	for (i = 0; i < n; i++) {
		paso__shared_record__init(&r[i]);
		memset(subj[i], (int)seqs[i], 32);
		r[i].share_seq = seqs[i];
		r[i].subject.data = subj[i];
		r[i].subject.len = subject_len;
		r[i].rule = "sharing[2]";
		r[i].purpose = "bulk screening";
		r[i].category = PASO__CATEGORY__DETAINEE;
		r[i].enrolled_at = 1790000000;
		r[i].enrolled_point = "test";
		r[i].retention_days = 10;
		rp[i] = &r[i];
	}
	b.n_records = n;
	b.records = rp;
	env.kiosk_id = "hub";
	env.seq = seqs[n - 1];
	env.body_case = PASO__ENVELOPE__BODY_SHARE_BATCH;
	env.share_batch = &b;
	assert_int_equal(c_send(c, &env), 0);
	ans = c_recv(c);
	assert_non_null(ans);
	tls_conn_free(c);
	tls_ctx_free(ctx);
	return ans;
}

/* A sender that never heard the acknowledgement resends: acknowledged, stored once. */
static void
test_partner_resend_stored_once(void **state)
{
	struct pair p;
	const uint64_t first[] = {1, 2, 3}, again[] = {2, 3, 4}, bad[] = {5};
	Paso__Envelope *ans;
	char *out = NULL;

	(void)state;
	pair_setup(&p);
	p.par_peer = start(&p.par, 0);
	ans = send_batch(&p, first, 3, 32);
	assert_int_equal(ans->body_case, PASO__ENVELOPE__BODY_SHARE_ACK);
	assert_int_equal(ans->share_ack->through, 3);
	paso__envelope__free_unpacked(ans, NULL);
	ans = send_batch(&p, again, 3, 32);
	assert_int_equal(ans->body_case, PASO__ENVELOPE__BODY_SHARE_ACK);
	assert_int_equal(ans->share_ack->through, 4);
	paso__envelope__free_unpacked(ans, NULL);
	/* A malformed record: refused with its code, nothing stored, the port keeps serving. */
	ans = send_batch(&p, bad, 1, 31);
	assert_int_equal(ans->body_case, PASO__ENVELOPE__BODY_ERROR);
	assert_int_equal(ans->error->code, PASO_E_FIELD_RANGE);
	assert_non_null(strstr(ans->error->message, "records[0].subject: 31 bytes"));
	paso__envelope__free_unpacked(ans, NULL);
	h_hub_stop(&p.par, SIGTERM);
	assert_int_equal(count_in(p.par.hub, "\"action\":\"RECEIVE\""), 4);
	assert_int_equal(count_in(p.par.hub, "\"code_name\":\"FIELD_RANGE\""), 1);
	{ /* four RECEIVE entries the national log never shared: the cross-log check fails */
		const char *argv[] = {"paso-audit", "shares", p.nat.hub, p.par.hub, NULL};
		assert_int_equal(run_out(&out, argv), 1);
		assert_non_null(strstr(out, "has no SHARE in"));
		assert_non_null(strstr(out, "0 SHARE entries, 4 RECEIVE entries, 0 matched"));
		free(out);
	}
	{
		const char *argv[] = {"paso-hub", "stats", p.par.hub, "--json", "--recount", NULL};
		assert_int_equal(run_out(&out, argv), 0);
		assert_int_equal(h_json_num(out, "subjects"), 4);
		assert_int_equal(h_json_num(out, "detainee"), 4);
		free(out);
	}
	pair_cleanup(&p);
}

/* A partner whose queries nearly all miss is flagged once a day; the answers go on. */
static void
test_fishing_flagged(void **state)
{
	static const char yaml[] = "name: national-fishing\n"
				   "store:\n  finger: true\n  face: true\n  iris: true\n"
				   "sharing:\n"
				   "  - partner: dhs\n    what: hit_no_hit\n    categories: all\n"
				   "    purpose: " PURPOSE "\n    retention_days: 30\n"
				   "    daily_budget: 100\n";
	struct pair p;
	char miss[800], *out = NULL, *log;
	int i;

	(void)state;
	pair_setup_with(&p, yaml);
	p.nat_peer = start(&p.nat, 0);
	enrol(&p, 0, 2);
	make_probe(&p, 300, "miss.cap", miss, sizeof(miss));
	for (i = 0; i < 22; i++) {
		assert_int_equal(query(&p, PURPOSE, miss, &out), 3);
		free(out);
	}
	h_hub_stop(&p.nat, SIGTERM);
	log = show(p.nat.hub);
	assert_int_equal(h_count(log, "\"action\":\"FLAG\""), 1);
	assert_non_null(strstr(log, "partner 'dhs' looks like fishing: 20 of 20 queries today"));
	assert_int_equal(h_count(log, "\"action\":\"QUERY\""), 22);
	free(log);
	pair_cleanup(&p);
}

/* Removing a bulk rule withdraws what it queued: audited, never sent. */
static void
test_revoked_rule_withdraws_queued_shares(void **state)
{
	static const char templates_only[] =
		"name: national-revoked\n"
		"store:\n  finger: true\n  face: true\n  iris: true\n"
		"sharing:\n"
		"  - partner: dhs\n    what: templates\n    categories: all\n"
		"    purpose: bulk screening\n    retention_days: 3650\n";
	struct pair p;
	char path[800], *logn, *logp;

	(void)state;
	pair_setup(&p);
	/* The partner is down: six rows wait in the outbox (three people, two rules). */
	p.par_peer = start(&p.par, 0);
	h_hub_stop(&p.par, SIGTERM);
	tell_national(&p);
	p.nat_peer = start(&p.nat, 0);
	enrol(&p, 0, 3);
	h_hub_stop(&p.nat, SIGTERM);
	{ /* stats says what waits for delivery (the scenario driver waits on it) */
		char *out = NULL;
		const char *argv[] = {"paso-hub", "stats", p.nat.hub, "--json", NULL};
		assert_int_equal(run_out(&out, argv), 0);
		assert_int_equal(h_json_num(out, "share_outbox"), 6);
		free(out);
	}
	/* The records rule goes; the templates rule stays. */
	(void)snprintf(path, sizeof(path), "%s/policy.yaml", p.nat.hub);
	write_text(path, templates_only);
	p.par_peer = start(&p.par, p.par_peer);
	start(&p.nat, 0);
	wait_shares(&p, 3);
	usleep(300000);
	h_hub_stop(&p.nat, SIGTERM);
	h_hub_stop(&p.par, SIGTERM);
	logn = show(p.nat.hub);
	logp = show(p.par.hub);
	assert_int_equal(h_count(logn, "\"action\":\"SHARE\""), 3);
	assert_int_equal(h_count(logn, "withdrawn: its rule is no longer in policy"), 3);
	assert_int_equal(h_count(logp, "\"action\":\"RECEIVE\""), 3);
	assert_int_equal(h_count(logp, "received record"), 0);
	free(logn);
	free(logp);
	{ /* delivered or withdrawn: nothing waits */
		char *out = NULL;
		const char *argv[] = {"paso-hub", "stats", p.nat.hub, "--json", NULL};
		assert_int_equal(run_out(&out, argv), 0);
		assert_int_equal(h_json_num(out, "share_outbox"), 0);
		free(out);
	}
	pair_cleanup(&p);
}

/* A bulk rule that appears shares what already exists, once. */
static void
test_new_rule_shares_existing_records(void **state)
{
	static const char no_bulk[] = "name: national-before\n"
				      "store:\n  finger: true\n  face: true\n  iris: true\n";
	struct pair p;
	char path[800], *logn;

	(void)state;
	pair_setup_with(&p, no_bulk);
	p.par_peer = start(&p.par, 0);
	tell_national(&p);
	p.nat_peer = start(&p.nat, 0);
	enrol(&p, 0, 4);
	h_hub_stop(&p.nat, SIGTERM);
	/* The policy now shares templates and records with dhs. */
	(void)snprintf(path, sizeof(path), "%s/policy.yaml", p.nat.hub);
	write_text(path, national_yaml);
	start(&p.nat, 0);
	wait_shares(&p, 8);
	enrol(&p, 4, 5);
	wait_shares(&p, 10);
	h_hub_stop(&p.nat, SIGTERM);
	/* Another start queues nothing again. */
	start(&p.nat, 0);
	usleep(500000);
	h_hub_stop(&p.nat, SIGTERM);
	h_hub_stop(&p.par, SIGTERM);
	logn = show(p.nat.hub);
	assert_int_equal(h_count(logn, "\"action\":\"SHARE\""), 10);
	assert_int_equal(h_count(logn, "in force: 4 existing subjects queued"), 2);
	assert_non_null(strstr(logn, "opening 4 sealed subject records to queue them"));
	free(logn);
	assert_int_equal(count_in(p.par.hub, "\"action\":\"RECEIVE\""), 10);
	pair_cleanup(&p);
}

/* A reload without a restart: a removed rule withdraws at once, a new one shares what exists. */
static void
test_reload_revokes_and_adds_rules(void **state)
{
	static const char templates_only[] =
		"name: national-reloaded\n"
		"store:\n  finger: true\n  face: true\n  iris: true\n"
		"sharing:\n"
		"  - partner: dhs\n    what: templates\n    categories: all\n"
		"    purpose: bulk screening\n    retention_days: 3650\n";
	static const char records_again[] =
		"name: national-reloaded-2\n"
		"store:\n  finger: true\n  face: true\n  iris: true\n"
		"sharing:\n"
		"  - partner: dhs\n    what: records\n    categories: [detainee, border_worker, "
		"regional_visitor, migrant_in_transit]\n"
		"    purpose: bulk screening, second look\n    retention_days: 3650\n";
	struct pair p;
	char path[800], *out = NULL, *logn;
	const char *argv[] = {"paso-hub", "reload", p.nat.hub, NULL};

	(void)state;
	pair_setup(&p);
	argv[2] = p.nat.hub;
	p.par_peer = start(&p.par, 0);
	h_hub_stop(&p.par, SIGTERM);
	tell_national(&p);
	p.nat_peer = start(&p.nat, 0);
	enrol(&p, 0, 3);
	(void)snprintf(path, sizeof(path), "%s/policy.yaml", p.nat.hub);
	write_text(path, templates_only);
	assert_int_equal(run_out(&out, argv), 0);
	free(out);
	p.par_peer = start(&p.par, p.par_peer);
	wait_shares(&p, 3);
	/* A new records rule (another purpose): the three already enrolled are shared under it. */
	write_text(path, records_again);
	assert_int_equal(run_out(&out, argv), 0);
	free(out);
	wait_shares(&p, 6);
	h_hub_stop(&p.nat, SIGTERM);
	h_hub_stop(&p.par, SIGTERM);
	logn = show(p.nat.hub);
	assert_int_equal(h_count(logn, "withdrawn: its rule is no longer in policy"), 3);
	assert_int_equal(h_count(logn, "in force: 3 existing subjects queued"), 1);
	/* Three SHARE entries under the new rule, and the POLICY_LOAD entry that queued them. */
	assert_int_equal(h_count(logn, "\"purpose\":\"bulk screening, second look\""), 4);
	free(logn);
	{
		const char *a[] = {"paso-audit", "shares", p.nat.hub, p.par.hub, NULL};
		assert_int_equal(run_out(&out, a), 0);
		assert_non_null(strstr(out, "6 matched one to one"));
		free(out);
	}
	pair_cleanup(&p);
}

/* What a partner receives follows the partner's own retention, on the partner's clock. */
static void
test_partner_retention_erases_received(void **state)
{
	struct pair p;
	char *out = NULL, *logp;
	int i;

	(void)state;
	pair_setup(&p);
	p.par_peer = start_clock(&p.par, 0, "sim:2027-01-01T00:00:00Z");
	tell_national(&p);
	p.nat_peer = start(&p.nat, 0);
	enrol(&p, 0, 3);
	wait_shares(&p, 6);
	{ /* kept 365 days (the partner's policy; the rule allows 3650) */
		const char *a[] = {"paso-hub", "clock", p.par.hub, "--advance", "300d", NULL};
		assert_int_equal(run_out(&out, a), 0);
		free(out);
	}
	usleep(1500000);
	{
		const char *a[] = {"paso-hub", "stats", p.par.hub, "--json", NULL};
		assert_int_equal(run_out(&out, a), 0);
		assert_int_equal(h_json_num(out, "subjects"), 6);
		free(out);
	}
	{
		const char *a[] = {"paso-hub", "clock", p.par.hub, "--advance", "70d", NULL};
		assert_int_equal(run_out(&out, a), 0);
		free(out);
	}
	for (i = 0; i < 100; i++) {
		const char *a[] = {"paso-hub", "stats", p.par.hub, "--json", NULL};
		long long n;

		assert_int_equal(run_out(&out, a), 0);
		n = h_json_num(out, "subjects");
		free(out);
		if (n == 0)
			break;
		usleep(100000);
	}
	assert_true(i < 100);
	h_hub_stop(&p.nat, SIGTERM);
	h_hub_stop(&p.par, SIGTERM);
	logp = show(p.par.hub);
	assert_true(h_count(logp, "\"action\":\"DELETE\"") >= 1);
	free(logp);
	pair_cleanup(&p);
}

/* --- releases: the second step after a hit ---------------------------------------------------- */

#define RELEASE_PURPOSE "case file transfer"

/* A hit's case token is valid 60 minutes for 2 releases; a release hands over the enrolment
 * time and the face template only. No bulk rule: every SHARE below is a release. */
static const char release_yaml[] = "name: national-release\n"
				   "store:\n  finger: true\n  face: true\n  iris: true\n"
				   "sharing:\n"
				   "  - partner: dhs\n    what: hit_no_hit\n    categories: all\n"
				   "    purpose: " PURPOSE "\n    retention_days: 30\n"
				   "    valid_for_minutes: 60\n    transactions_allowed: 2\n"
				   "  - partner: dhs\n    what: release\n    categories: all\n"
				   "    purpose: " RELEASE_PURPOSE "\n    retention_days: 30\n"
				   "    attributes: [enrolled_at, face]\n";

/* Asserts needle is in out, showing out when it is not. */
static void
expect_in(const char *out, const char *needle)
{
	if (strstr(out, needle) == NULL)
		fprintf(stderr, "expected '%s' in:\n%s\n", needle, out);
	assert_non_null(strstr(out, needle));
}

static int
release(struct pair *p, const char *token, const char *purpose, char **out)
{
	char hub[64];
	const char *argv[] = {"paso-hub", "release", p->par.hub, "--hub", hub, "--case", token,
		"--purpose", purpose, NULL};

	(void)snprintf(hub, sizeof(hub), "127.0.0.1:%u", (unsigned)p->nat_peer);
	return run_out(out, argv);
}

/* Queries person's probe; asserts a hit and copies its case token (64 hex digits). */
static void
hit_token(struct pair *p, uint32_t person, char token[65])
{
	static unsigned n;
	char probe[800], name[32], *out = NULL, *at;

	(void)snprintf(name, sizeof(name), "hit%u-%u.cap", (unsigned)person, n++);
	make_probe(p, person, name, probe, sizeof(probe));
	assert_int_equal(query(p, PURPOSE, probe, &out), 0);
	assert_non_null(at = strstr(out, "hit: case token "));
	memcpy(token, at + 16, 64);
	token[64] = '\0';
	free(out);
}

static void
advance(struct deployment *dep, const char *by)
{
	char *out = NULL;
	const char *a[] = {"paso-hub", "clock", dep->hub, "--advance", by, NULL};

	assert_int_equal(run_out(&out, a), 0);
	free(out);
}

static void
test_release_after_hit(void **state)
{
	struct pair p;
	Paso__Envelope env;
	char t1[65], t2[65], t3[65], *out = NULL, *logn, *logp;
	int i;

	(void)state;
	pair_setup_with(&p, release_yaml);
	p.par_peer = start(&p.par, 0);
	tell_national(&p);
	p.nat_peer = start_clock(&p.nat, 0, "sim");
	enrol(&p, 0, 6);
	hit_token(&p, 2, t1);
	hit_token(&p, 2, t3);
	/* A fresh token per hit: two hits on one person are not linkable by their tokens. */
	assert_string_not_equal(t1, t3);
	/* A purpose no release rule lists: refused, exit 4, nothing sent. */
	assert_int_equal(release(&p, t1, "general curiosity", &out), 4);
	expect_in(out, "PURPOSE_DENIED (-71)");
	free(out);
	/* A token this hub never issued (well formed): CASE_UNKNOWN. */
	assert_int_equal(release(&p,
				 "00000000000000010000000000000000000000000000000000000000000000"
				 "00",
				 RELEASE_PURPOSE, &out),
		4);
	expect_in(out, "CASE_UNKNOWN (-73)");
	free(out);
	/* The right case number with a wrong secret is no better. */
	{
		char forged[65];

		memcpy(forged, t1, 65);
		forged[63] = forged[63] == '0' ? '1' : '0';
		assert_int_equal(release(&p, forged, RELEASE_PURPOSE, &out), 4);
		expect_in(out, "CASE_UNKNOWN (-73)");
		free(out);
	}
	/* Not a token at all: a usage error, the hub never hears of it. */
	assert_int_equal(release(&p, "xyz", RELEASE_PURPOSE, &out), 2);
	expect_in(out, "--case: expected the 64 hex digits");
	free(out);
	/* The right purpose: accepted, exit 0, the record follows on the share link. */
	assert_int_equal(release(&p, t1, RELEASE_PURPOSE, &out), 0);
	expect_in(out, "released: share_seq 1, 1 release(s) left");
	free(out);
	wait_shares(&p, 1);
	/* transactions_allowed 2: one more release on the case, then CASE_USED_UP. */
	assert_int_equal(release(&p, t1, RELEASE_PURPOSE, &out), 0);
	expect_in(out, "0 release(s) left");
	free(out);
	wait_shares(&p, 2);
	assert_int_equal(release(&p, t1, RELEASE_PURPOSE, &out), 4);
	expect_in(out, "CASE_USED_UP (-75)");
	free(out);
	/* valid_for_minutes 60: a token is refused once the national hub's clock passed it. */
	hit_token(&p, 4, t2);
	advance(&p.nat, "61m");
	assert_int_equal(release(&p, t2, RELEASE_PURPOSE, &out), 4);
	expect_in(out, "CASE_EXPIRED (-74)");
	free(out);
	/* An expired token is forgotten: asked again, it is unknown. */
	assert_int_equal(release(&p, t2, RELEASE_PURPOSE, &out), 4);
	expect_in(out, "CASE_UNKNOWN (-73)");
	free(out);
	h_hub_stop(&p.nat, SIGTERM);
	h_hub_stop(&p.par, SIGTERM);
	/* National: RELEASE entries, accepted and refused with their codes; two SHARE. */
	logn = show(p.nat.hub);
	assert_int_equal(h_count(logn, "\"action\":\"RELEASE\""), 8);
	assert_int_equal(h_count(logn, "\"action\":\"SHARE\""), 2);
	assert_int_equal(h_count(logn, "\"code_name\":\"PURPOSE_DENIED\""), 1);
	assert_int_equal(h_count(logn, "\"code_name\":\"CASE_UNKNOWN\""), 3);
	assert_int_equal(h_count(logn, "\"code_name\":\"CASE_USED_UP\""), 1);
	assert_int_equal(h_count(logn, "\"code_name\":\"CASE_EXPIRED\""), 1);
	assert_int_equal(h_count(logn, "\"detail\":\"release on case "), 2);
	assert_int_equal(h_count(logn, "\"detail\":\"released category, enrolled_at, face as "), 2);
	assert_int_equal(h_count(logn, "\"purpose\":\"" RELEASE_PURPOSE "\""), 2 + 7);
	/* Partner: its own RELEASE entry per request it sent (through its running hub), and one
	 * RECEIVE per record released. */
	logp = show(p.par.hub);
	assert_int_equal(h_count(logp, "\"action\":\"RELEASE\""), 8);
	assert_int_equal(h_count(logp, "\"action\":\"RECEIVE\""), 2);
	assert_int_equal(h_count(logp, ": accepted, share_seq"), 2);
	assert_int_equal(h_count(logp, "refused CASE_EXPIRED"), 1);
	/* The token is the partner's to present: its own log keeps it, the national log names the
	 * case by number only, never its secret. */
	assert_true(h_count(logp, t1) > 0);
	assert_int_equal(h_count(logn, t1), 0);
	assert_int_equal(h_count(logn, t1 + 16), 0);
	assert_int_equal(h_count(logn, "on case #1 accepted"), 2);
	free(logn);
	free(logp);
	{ /* every SHARE has its RECEIVE and back */
		const char *argv[] = {"paso-audit", "shares", p.nat.hub, p.par.hub, NULL};
		assert_int_equal(run_out(&out, argv), 0);
		expect_in(out, "2 SHARE entries, 2 RECEIVE entries, 2 matched");
		free(out);
	}
	{ /* the partner holds the two released records, with the face template only */
		const char *argv[] = {"paso-hub", "stats", p.par.hub, "--json", "--recount", NULL};
		assert_int_equal(run_out(&out, argv), 0);
		assert_int_equal(h_json_num(out, "subjects"), 2);
		assert_int_equal(h_json_num(out, "with_face"), 2);
		assert_int_equal(h_json_num(out, "with_iris"), 0);
		assert_int_equal(h_json_num(out, "with_finger"), 0);
		free(out);
	}
	/* No template byte in the clear on either disk: person 2's iris code and face embedding. */
	c_make_enroll(&env, K, 1, 2);
	assert_true(env.enroll->capture->n_iris > 0);
	assert_non_null(env.enroll->capture->face);
	for (i = 0; i < 2; i++) {
		const char *dir = i == 0 ? p.nat.hub : p.par.hub;

		assert_int_equal(
			bytes_on_disk(dir, env.enroll->capture->iris[0]->code.data, 64), 0);
		assert_int_equal(
			bytes_on_disk(dir, (const uint8_t *)env.enroll->capture->face->embedding,
				16 * sizeof(float)),
			0);
	}
	c_free_enroll(&env);
	{ /* the person's own trace lists the queries that found them and the releases */
		struct population *pop = NULL;
		struct person_info pi;
		char html[800], *page;
		const char *argv[] = {"paso", "trace", p.nat.hub, "--card", pi.card, "--html", html,
			"--partner", p.par.hub, NULL};
		const char *jargv[] = {"paso", "trace", p.nat.hub, "--card", pi.card, "--json",
			"--partner", p.par.hub, NULL};

		assert_int_equal(population_new(5, 3, &pop), 0);
		assert_int_equal(population_person(pop, 2, &pi), 0);
		population_free(pop);
		(void)snprintf(html, sizeof(html), "%s/trace.html", p.par.dir);
		assert_int_equal(run_out(&out, argv), 0);
		/* two accepted; the used-up one was refused before the person was looked up */
		assert_int_equal(h_count(out, " RELEASE by dhs, purpose '" RELEASE_PURPOSE "'"), 2);
		assert_int_equal(h_count(out, " QUERY by dhs, "), 2);
		/* followed to the partner: its two RECEIVE entries under its own pseudonym of the
		 * person, each proven against the partner's own checkpoint */
		assert_non_null(strstr(out, "at partner "));
		assert_int_equal(h_count(out, " RECEIVE by "), 2);
		assert_int_equal(h_count(out, "DOES NOT VERIFY"), 0);
		free(out);
		assert_int_equal(run_out(&out, jargv), 0);
		assert_non_null(strstr(out, "\"partners\":[{\"deployment\":"));
		assert_int_equal(h_count(out, "\"action\":\"RECEIVE\""), 2);
		assert_int_equal(h_count(out, "\"verified\":false"), 0);
		free(out);
		assert_non_null(page = h_read_file(html, NULL));
		assert_int_equal(h_count(page, "another party received your data"), 2);
		assert_int_equal(h_count(page, "otra institución recibió sus datos"), 2);
		assert_int_equal(
			h_count(page, "another party asked for your record after a hit"), 2);
		assert_int_equal(h_count(page, "another party&#39;s query found you") +
					 h_count(page, "another party's query found you"),
			2);
		free(page);
	}
	pair_cleanup(&p);
}

/*
 * A release rule withdrawn by a policy reload while its release waits in the outbox (the
 * partner is down): the queued record never leaves (REJECT, no SHARE), and the next release
 * request under it is refused.
 */
static void
test_reload_withdraws_queued_release(void **state)
{
	static const char hit_only[] =
		"name: national-release-revoked\n"
		"store:\n  finger: true\n  face: true\n  iris: true\n"
		"sharing:\n"
		"  - partner: dhs\n    what: hit_no_hit\n    categories: all\n"
		"    purpose: " PURPOSE "\n    retention_days: 30\n"
		"    transactions_allowed: 2\n";
	struct pair p;
	char t[65], path[800], *out = NULL, *logn;
	const char *argv[] = {"paso-hub", "reload", NULL, NULL};
	int i;

	(void)state;
	pair_setup_with(&p, release_yaml);
	argv[2] = p.nat.hub;
	p.par_peer = start(&p.par, 0);
	h_hub_stop(&p.par, SIGTERM); /* its port is known, nobody answers there */
	tell_national(&p);
	p.nat_peer = start_clock(&p.nat, 0, "sim");
	enrol(&p, 0, 3);
	hit_token(&p, 1, t);
	/* Accepted and queued; the partner, stopped, notes its request offline. */
	assert_int_equal(release(&p, t, RELEASE_PURPOSE, &out), 0);
	expect_in(out, "released: share_seq 1");
	free(out);
	(void)snprintf(path, sizeof(path), "%s/policy.yaml", p.nat.hub);
	write_text(path, hit_only);
	assert_int_equal(run_out(&out, argv), 0);
	free(out);
	for (i = 0; i < 100 && count_in(p.nat.hub, "withdrawn: its rule is no longer") == 0; i++)
		usleep(100000);
	assert_int_equal(release(&p, t, RELEASE_PURPOSE, &out), 4);
	expect_in(out, "PURPOSE_DENIED (-71)");
	free(out);
	p.par_peer = start(&p.par, p.par_peer);
	usleep(500000);
	h_hub_stop(&p.nat, SIGTERM);
	h_hub_stop(&p.par, SIGTERM);
	logn = show(p.nat.hub);
	assert_int_equal(h_count(logn, "withdrawn: its rule is no longer in policy"), 1);
	assert_int_equal(h_count(logn, "\"action\":\"SHARE\""), 0);
	assert_int_equal(h_count(logn, "\"action\":\"RELEASE\""), 2);
	free(logn);
	assert_int_equal(count_in(p.par.hub, "\"action\":\"RECEIVE\""), 0);
	assert_int_equal(count_in(p.par.hub, "\"action\":\"RELEASE\""), 2);
	pair_cleanup(&p);
}

/* The category of person i of the population enrol() uses. */
static int
category_of(uint32_t i)
{
	struct population *pop = NULL;
	struct person_info pi;

	assert_int_equal(population_new(5, i + 1, &pop), 0);
	assert_int_equal(population_person(pop, i, &pi), 0);
	population_free(pop);
	return pi.category;
}

/* A hit on someone outside the rule's categories is answered "no hit": the answer itself would
 * tell the partner that person is enrolled. */
static void
test_hit_outside_rule_categories(void **state)
{
	struct pair p;
	char yaml[600], in[800], outside[800], *out = NULL, *logn;
	uint32_t a = 0, b = 1;

	(void)state;
	while (category_of(b) == category_of(a))
		b++;
	(void)snprintf(yaml, sizeof(yaml),
		"name: national-categories\n"
		"store:\n  finger: true\n  face: true\n  iris: true\n"
		"sharing:\n"
		"  - {partner: dhs, what: hit_no_hit, categories: [%s], purpose: " PURPOSE ", "
		"retention_days: 30}\n",
		population_category_name(category_of(a)));
	pair_setup_with(&p, yaml);
	p.nat_peer = start(&p.nat, 0);
	enrol(&p, 0, b + 1);
	make_probe(&p, a, "in.cap", in, sizeof(in));
	make_probe(&p, b, "outside.cap", outside, sizeof(outside));
	assert_int_equal(query(&p, PURPOSE, in, &out), 0);
	assert_non_null(strstr(out, "hit: case token "));
	free(out);
	/* Enrolled, found, but not the partner's business: exit 3 like a stranger. */
	assert_int_equal(query(&p, PURPOSE, outside, &out), 3);
	assert_non_null(strstr(out, "no hit"));
	assert_null(strstr(out, "case token"));
	free(out);
	h_hub_stop(&p.nat, SIGTERM);
	logn = show(p.nat.hub);
	assert_int_equal(h_count(logn, "\"detail\":\"hit: case token"), 1);
	assert_int_equal(
		h_count(logn, "\"detail\":\"no hit: the match is outside the rule's categories"),
		1);
	free(logn);
	pair_cleanup(&p);
}

static size_t
subjects_of(struct deployment *dep)
{
	char *out = NULL;
	const char *a[] = {"paso-hub", "stats", dep->hub, "--json", NULL};
	long long n;

	assert_int_equal(run_out(&out, a), 0);
	n = h_json_num(out, "subjects");
	free(out);
	return (size_t)n;
}

/*
 * A rule's daily_budget, the partner's totals across purposes (queries and releases), a
 * category the rule does not cover, a person erased between the hit and the release, and a
 * release rule without template attributes: templates never leave.
 */
static void
test_release_budgets_totals_and_erasure(void **state)
{
	struct pair p;
	char yaml[1400], ta[65], ta2[65], tb[65], miss[800], *out = NULL, *logn;
	uint32_t a = 0, b = 1;
	int i;

	(void)state;
	while (category_of(b) == category_of(a))
		b++;
	(void)snprintf(yaml, sizeof(yaml),
		"name: national-budgets\n"
		"store:\n  finger: true\n  face: true\n  iris: true\n"
		"retention_days:\n  enrolment: 1\n"
		"sharing:\n"
		"  - {partner: dhs, what: hit_no_hit, categories: all, purpose: " PURPOSE ", "
		"retention_days: 30, valid_for_minutes: 10080, transactions_allowed: 5}\n"
		"  - {partner: dhs, what: hit_no_hit, categories: all, purpose: second look, "
		"retention_days: 30, valid_for_minutes: 10080, transactions_allowed: 5}\n"
		"  - {partner: dhs, what: release, categories: [%s], purpose: " RELEASE_PURPOSE ", "
		"retention_days: 30, daily_budget: 1}\n"
		"  - {partner: dhs, what: release, categories: all, purpose: court order, "
		"retention_days: 30, attributes: [enrolled_point]}\n"
		"partners:\n  - {name: dhs, daily_queries: 4, daily_releases: 2}\n",
		population_category_name(category_of(a)));
	pair_setup_with(&p, yaml);
	p.par_peer = start(&p.par, 0);
	tell_national(&p);
	p.nat_peer = start_clock(&p.nat, 0, "sim");
	enrol(&p, 0, b + 1);
	/* Four queries a day for dhs, every purpose together; the fifth is refused. */
	hit_token(&p, a, ta);
	hit_token(&p, b, tb);
	make_probe(&p, 500, "miss500.cap", miss, sizeof(miss));
	assert_int_equal(query(&p, "second look", miss, &out), 3);
	free(out);
	{
		char probe[800];

		make_probe(&p, a, "a-second.cap", probe, sizeof(probe));
		assert_int_equal(query(&p, "second look", probe, &out), 0);
		memcpy(ta2, strstr(out, "hit: case token ") + 16, 64);
		ta2[64] = '\0';
		free(out);
		assert_int_equal(query(&p, PURPOSE, probe, &out), 4);
		expect_in(out, "BUDGET_EXCEEDED (-72)");
		expect_in(out, "today's total of 4 queries (every purpose together)");
		free(out);
	}
	/* The release rule covers a's category only. */
	assert_int_equal(release(&p, tb, RELEASE_PURPOSE, &out), 4);
	expect_in(out, "POLICY_DENIED (-32)");
	free(out);
	assert_int_equal(release(&p, ta, RELEASE_PURPOSE, &out), 0);
	free(out);
	/* The rule's own budget: one a day. */
	assert_int_equal(release(&p, ta2, RELEASE_PURPOSE, &out), 4);
	expect_in(out, "BUDGET_EXCEEDED (-72)");
	expect_in(out, "today's budget of 1 releases under sharing[2]");
	free(out);
	/* Another purpose, another rule: allowed, and the partner's second release today. */
	assert_int_equal(release(&p, ta2, "court order", &out), 0);
	free(out);
	/* The partner's total across purposes: two a day. */
	assert_int_equal(release(&p, tb, "court order", &out), 4);
	expect_in(out, "today's total of 2 releases (every purpose together");
	free(out);
	wait_shares(&p, 2);
	/* Three days on, the retention sweep erased everyone (one day's retention); b's token is
	 * still valid (a week), but there is nobody left to release. */
	advance(&p.nat, "3d");
	for (i = 0; i < 100 && subjects_of(&p.nat) != 0; i++)
		usleep(100000);
	assert_int_equal(subjects_of(&p.nat), 0);
	assert_int_equal(release(&p, tb, "court order", &out), 4);
	expect_in(out, "SUBJECT_ERASED (-76)");
	free(out);
	h_hub_stop(&p.nat, SIGTERM);
	h_hub_stop(&p.par, SIGTERM);
	logn = show(p.nat.hub);
	assert_int_equal(h_count(logn, "\"action\":\"RELEASE\""), 6);
	assert_int_equal(h_count(logn, "\"code_name\":\"BUDGET_EXCEEDED\""), 3);
	assert_int_equal(h_count(logn, "\"code_name\":\"SUBJECT_ERASED\""), 1);
	assert_int_equal(h_count(logn, "\"code_name\":\"POLICY_DENIED\""), 1);
	assert_int_equal(h_count(logn, "\"detail\":\"released category, enrolled_at, "
				       "enrolled_point as "),
		1);
	assert_int_equal(h_count(logn, "\"detail\":\"released category, enrolled_point as "), 1);
	free(logn);
	{ /* the two released records, no template among them */
		const char *argv[] = {"paso-hub", "stats", p.par.hub, "--json", "--recount", NULL};
		assert_int_equal(run_out(&out, argv), 0);
		assert_int_equal(h_json_num(out, "subjects"), 2);
		assert_int_equal(h_json_num(out, "with_face"), 0);
		assert_int_equal(h_json_num(out, "with_iris"), 0);
		assert_int_equal(h_json_num(out, "with_finger"), 0);
		free(out);
	}
	{
		const char *argv[] = {"paso-audit", "shares", p.nat.hub, p.par.hub, NULL};
		assert_int_equal(run_out(&out, argv), 0);
		expect_in(out, "2 SHARE entries, 2 RECEIVE entries, 2 matched");
		free(out);
	}
	pair_cleanup(&p);
}

/* The 64-hex-digit values after "subject":" in a log, newline-separated. */
static char *
subjects_in(const char *log)
{
	size_t n = h_count(log, "\"subject\":\""), k = 0;
	char *v = calloc(n + 1, 65);
	const char *at = log;

	assert_non_null(v);
	while ((at = strstr(at, "\"subject\":\"")) != NULL) {
		at += 11;
		memcpy(v + k * 65, at, 64);
		v[k * 65 + 64] = '\n';
		k++;
	}
	return v;
}

/*
 * A person shared with two partners: the identifiers each receives (pseudonyms in RECEIVE
 * entries, case tokens) have nothing in common, and none is the national hub's own.
 */
static void
test_two_partners_cannot_link(void **state)
{
	static const char two_yaml[] =
		"name: national-two\n"
		"store:\n  finger: true\n  face: true\n  iris: true\n"
		"sharing:\n"
		"  - {partner: dhs, what: records, categories: all, purpose: bulk screening, "
		"retention_days: 30}\n"
		"  - {partner: cbp, what: records, categories: all, purpose: bulk screening, "
		"retention_days: 30}\n"
		"  - {partner: dhs, what: hit_no_hit, categories: all, purpose: " PURPOSE ", "
		"retention_days: 30}\n"
		"  - {partner: cbp, what: hit_no_hit, categories: all, purpose: " PURPOSE ", "
		"retention_days: 30}\n";
	struct pair p;
	struct deployment cbp;
	char ca[800], natca[800], path[800], addr[64], hub[64], probe[800], *out = NULL;
	char *logn, *logd, *logc, *sd, *sc, *sn, tokd[65], tokc[65], *line;
	size_t i;

	(void)state;
	pair_setup_with(&p, two_yaml);
	memset(&cbp, 0, sizeof(cbp));
	assert_true(snprintf(cbp.dir, sizeof(cbp.dir), "%.480s/cbpwork", p.par.dir) <
		    (int)sizeof(cbp.dir));
	(void)snprintf(cbp.hub, sizeof(cbp.hub), "%s/cbp", p.par.dir);
	(void)snprintf(cbp.log, sizeof(cbp.log), "%s/cbp.log", p.par.dir);
	assert_int_equal(mkdir(cbp.dir, 0700), 0);
	{
		const char *argv[] = {"paso-hub", "init", cbp.hub, "--name", "cbp", "--role",
			"partner", "--policy", p.parpolicy, NULL};
		assert_int_equal(run_out(&out, argv), 0);
		free(out);
	}
	(void)snprintf(ca, sizeof(ca), "%s/ca/ca.crt", cbp.hub);
	(void)snprintf(natca, sizeof(natca), "%s/ca/ca.crt", p.nat.hub);
	{
		const char *a1[] = {
			"paso-hub", "partner", "add", p.nat.hub, "--name", "cbp", "--ca", ca, NULL};
		const char *a2[] = {"paso-hub", "partner", "add", cbp.hub, "--name", "test", "--ca",
			natca, NULL};
		assert_int_equal(run_out(&out, a1), 0);
		free(out);
		assert_int_equal(run_out(&out, a2), 0);
		free(out);
	}
	p.par_peer = start(&p.par, 0);
	tell_national(&p);
	(void)snprintf(path, sizeof(path), "%s/peers/cbp.addr", p.nat.hub);
	(void)snprintf(addr, sizeof(addr), "127.0.0.1:%u\n", (unsigned)start(&cbp, 0));
	write_text(path, addr);
	p.nat_peer = start(&p.nat, 0);
	enrol(&p, 0, 4);
	/* 4 to each partner: 8 SHARE entries, 4 RECEIVE on each side. */
	for (i = 0; i < 300 && (count_in(p.nat.hub, "\"action\":\"SHARE\"") < 8 ||
				       count_in(p.par.hub, "\"action\":\"RECEIVE\"") < 4 ||
				       count_in(cbp.hub, "\"action\":\"RECEIVE\"") < 4);
		i++)
		usleep(100000);
	assert_int_equal(count_in(p.nat.hub, "\"action\":\"SHARE\""), 8);
	/* One person's hit, asked by each partner: two case tokens, unrelated. */
	make_probe(&p, 1, "two.cap", probe, sizeof(probe));
	assert_int_equal(query(&p, PURPOSE, probe, &out), 0);
	memcpy(tokd, strstr(out, "hit: case token ") + 16, 64);
	tokd[64] = '\0';
	free(out);
	(void)snprintf(hub, sizeof(hub), "127.0.0.1:%u", (unsigned)p.nat_peer);
	{
		const char *argv[] = {"paso-hub", "query", cbp.hub, "--hub", hub, "--purpose",
			PURPOSE, "--probe", probe, NULL};
		assert_int_equal(run_out(&out, argv), 0);
		memcpy(tokc, strstr(out, "hit: case token ") + 16, 64);
		tokc[64] = '\0';
		free(out);
	}
	assert_string_not_equal(tokd, tokc);
	h_hub_stop(&p.nat, SIGTERM);
	h_hub_stop(&p.par, SIGTERM);
	h_hub_stop(&cbp, SIGTERM);
	logn = show(p.nat.hub);
	logd = show(p.par.hub);
	logc = show(cbp.hub);
	assert_int_equal(h_count(logd, "\"action\":\"RECEIVE\""), 4);
	assert_int_equal(h_count(logc, "\"action\":\"RECEIVE\""), 4);
	sd = subjects_in(logd);
	sc = subjects_in(logc);
	sn = subjects_in(logn);
	/* No pseudonym one partner holds appears in the other's log, nor in the national log
	 * as the hub's own (the national log names them only in SHARE details). */
	for (line = sd; *line != '\0'; line += 65) {
		char needle[65];

		memcpy(needle, line, 64);
		needle[64] = '\0';
		assert_int_equal(h_count(logc, needle), 0);
		assert_null(strstr(sn, needle));
	}
	for (line = sc; *line != '\0'; line += 65) {
		char needle[65];

		memcpy(needle, line, 64);
		needle[64] = '\0';
		assert_int_equal(h_count(logd, needle), 0);
		assert_null(strstr(sn, needle));
	}
	/* Nor does either partner's log hold the other's case token. */
	assert_int_equal(h_count(logd, tokc), 0);
	assert_int_equal(h_count(logc, tokd), 0);
	free(sd);
	free(sc);
	free(sn);
	free(logn);
	free(logd);
	free(logc);
	pair_cleanup(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_trust_setup_refused_when_wrong, teardown_pair),
		cmocka_unit_test_teardown(test_certificates_never_cross_roles, teardown_pair),
		cmocka_unit_test_teardown(test_hit_no_hit, teardown_pair),
		cmocka_unit_test_teardown(test_query_batch, teardown_pair),
		cmocka_unit_test_teardown(test_query_links_budget_exact, teardown_pair),
		cmocka_unit_test_teardown(test_hit_no_hit_protected, teardown_pair),
		cmocka_unit_test_teardown(test_partner_gets_its_own_protected_form, teardown_pair),
		cmocka_unit_test_teardown(test_query_from_partner_without_rules, teardown_pair),
		cmocka_unit_test_teardown(test_bulk_shares_counted_on_both_sides, teardown_pair),
		cmocka_unit_test_teardown(test_partner_resend_stored_once, teardown_pair),
		cmocka_unit_test_teardown(test_fishing_flagged, teardown_pair),
		cmocka_unit_test_teardown(test_revoked_rule_withdraws_queued_shares, teardown_pair),
		cmocka_unit_test_teardown(test_new_rule_shares_existing_records, teardown_pair),
		cmocka_unit_test_teardown(test_reload_revokes_and_adds_rules, teardown_pair),
		cmocka_unit_test_teardown(test_partner_retention_erases_received, teardown_pair),
		cmocka_unit_test_teardown(test_kill9_either_side_exactly_once, teardown_pair),
		cmocka_unit_test_teardown(test_hit_outside_rule_categories, teardown_pair),
		cmocka_unit_test_teardown(test_release_after_hit, teardown_pair),
		cmocka_unit_test_teardown(test_release_budgets_totals_and_erasure, teardown_pair),
		cmocka_unit_test_teardown(test_two_partners_cannot_link, teardown_pair),
		cmocka_unit_test_teardown(test_reload_withdraws_queued_release, teardown_pair),
	};

	/* A refused handshake closes the socket under our writes: an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	if (getenv("PASO_TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("PASO_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
