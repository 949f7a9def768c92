/* SPDX-License-Identifier: Apache-2.0 */
/* paso-audit over published logs: tiles-verify, tiles-prove, follow, serve, witness-serve. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "be.h"
#include "checkpoint.h"
#include "durable.h"
#include "errors.h"
#include "hex.h"
#include "httpmini.h"
#include "merkle.h"
#include "paso_audit_cmds.h"
#include "tlogclient.h"
#include "witness.h"

#define H MERKLE_HASH_BYTES
#define FRONTIER_MAGIC "paso-frontier-v1\n"

/* Parses BASE --key K [--index I] [--state DIR] [--json]; any option not wanted is refused.
 * want_state: 0 no --state, 1 required, 2 optional. */
#define MAX_WITNESS_KEYS 8

struct opts {
	const char *base, *key, *state;
	const char *witness[MAX_WITNESS_KEYS]; /* cosignatures the checkpoint must carry */
	size_t nwitness;
	uint64_t index;
	int have_index, json;
};

static int
parse_opts(const char *cmd, int argc, char **argv, int want_index, int want_state, struct opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	if (argc < 1 || argv[0][0] == '-')
		return usage("missing BASE (a tiles directory or http://HOST:PORT/ URL) for", cmd);
	o->base = argv[0];
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
			o->key = argv[++i];
		else if (want_index && strcmp(argv[i], "--index") == 0 && i + 1 < argc) {
			if (parse_u64(argv[++i], &o->index) != 0)
				return usage("--index wants an entry number, not", argv[i]);
			o->have_index = 1;
		} else if (want_index && strcmp(argv[i], "--json") == 0)
			o->json = 1;
		else if (want_state && strcmp(argv[i], "--state") == 0 && i + 1 < argc)
			o->state = argv[++i];
		else if (strcmp(argv[i], "--witness") == 0 && i + 1 < argc) {
			if (o->nwitness == MAX_WITNESS_KEYS)
				return usage("at most 8 --witness keys, not more:", argv[i + 1]);
			o->witness[o->nwitness++] = argv[++i];
		} else
			return usage("unknown or incomplete option", argv[i]);
	}
	if (o->key == NULL)
		return usage(
			"--key (the log's public key, obtained out of band) is required for", cmd);
	if (want_index && !o->have_index)
		return usage("--index is required for", cmd);
	if (want_state == 1 && o->state == NULL)
		return usage("--state DIR is required for", cmd);
	return 0;
}

static int
open_client(const struct opts *o, struct checkpoint_verifier **v, struct tlogclient **c)
{
	struct paso_diag d = {0};
	int r, rc;

	*c = NULL;
	if ((rc = load_verifier(o->key, v)) != 0)
		return rc;
	if ((r = tlogclient_open(o->base, *v, c, &d)) != 0) {
		fprintf(stderr, "paso-audit: %s [%s]\n", d.msg, paso_errname(r));
		checkpoint_verifier_free(*v);
		*v = NULL;
		return PASO_AUDIT_EXIT_USAGE;
	}
	return 0;
}

/* Each --witness key must have cosigned the checkpoint note: prints who and when. */
static int
check_cosigned(const struct opts *o, const char *note, size_t len)
{
	struct checkpoint_verifier *w = NULL;
	struct checkpoint_note *n = NULL;
	struct paso_diag d = {0};
	uint64_t ts = 0;
	size_t i;
	int r, rc = 0;

	if (o->nwitness == 0)
		return 0;
	if ((r = checkpoint_note_parse(note, len, &n, &d)) != 0)
		return fail(r, "checkpoint", &d);
	for (i = 0; i < o->nwitness && rc == 0; i++) {
		if ((rc = load_verifier(o->witness[i], &w)) != 0)
			break;
		if (checkpoint_verifier_type(w) != CHECKPOINT_SIG_COSIGNATURE_V1) {
			rc = usage("--witness wants a witness (cosignature/v1) key, not",
				o->witness[i]);
		} else if ((r = checkpoint_note_verify(n, w, &ts, &d)) != 0) {
			fprintf(stderr,
				"paso-audit: checkpoint is not cosigned by witness %s: %s [%s]\n",
				checkpoint_verifier_name(w), d.msg, paso_errname(r));
			rc = PASO_AUDIT_EXIT_BAD;
		} else {
			printf("cosigned by witness %s at %" PRIu64 " (Unix time)\n",
				checkpoint_verifier_name(w), ts);
		}
		checkpoint_verifier_free(w);
		w = NULL;
	}
	checkpoint_note_free(n);
	return rc;
}

int
cmd_tiles_verify(int argc, char **argv)
{
	struct checkpoint_verifier *v = NULL;
	struct tlogclient *c = NULL;
	struct tlogclient_report rep;
	struct merkle_frontier f;
	struct checkpoint cp;
	struct paso_diag d = {0};
	char hx[2 * H + 1], *note = NULL;
	size_t nlen = 0;
	struct opts o;
	int r, rc;

	if ((rc = parse_opts("tiles-verify", argc, argv, 0, 0, &o)) != 0)
		return rc;
	if ((rc = open_client(&o, &v, &c)) != 0)
		return rc;
	rc = PASO_AUDIT_EXIT_BAD;
	if ((r = tlogclient_checkpoint(c, &cp, &note, &nlen, &d)) != 0) {
		rc = fail(r, "checkpoint", &d);
		goto out;
	}
	if ((rc = check_cosigned(&o, note, nlen)) != 0)
		goto out;
	rc = PASO_AUDIT_EXIT_BAD;
	merkle_frontier_init(&f);
	if ((r = tlogclient_verify_range(c, &cp, &f, 1, &rep, &d)) != 0) {
		fprintf(stderr, "paso-audit: tiles-verify %s: FAILED: %s [%s]\n", o.base, d.msg,
			paso_errname(r));
		goto out;
	}
	hex_encode(cp.root, H, hx);
	printf("tiles OK: %" PRIu64 " entries, %" PRIu64
	       " hash tiles recomputed from the level below, root %s, checkpoint signed by %s\n",
		cp.size, rep.tiles, hx, checkpoint_verifier_name(v));
	rc = 0;
out:
	free(note);
	tlogclient_close(c);
	checkpoint_verifier_free(v);
	return rc;
}

static int load_state(const char *dir, const struct checkpoint_verifier *v, struct checkpoint *cp,
	struct merkle_frontier *f);

int
cmd_tiles_prove(int argc, char **argv)
{
	struct checkpoint_verifier *v = NULL;
	struct tlogclient *c = NULL;
	struct merkle_frontier f;
	struct checkpoint cp;
	struct paso_diag d = {0};
	Paso__AuditEntry *e;
	uint8_t *entry = NULL;
	size_t len;
	struct opts o;
	int r, rc;

	if ((rc = parse_opts("tiles-prove", argc, argv, 1, 2, &o)) != 0)
		return rc;
	if ((rc = open_client(&o, &v, &c)) != 0)
		return rc;
	if (o.state != NULL) {
		/* Against the checkpoint follow verified, with its right edge: no checkpoint and
		 * no partial tile below the top level to fetch. */
		if ((rc = load_state(o.state, v, &cp, &f)) != 0)
			goto out;
		if (o.index >= cp.size) {
			fprintf(stderr,
				"paso-audit: entry %" PRIu64 " is past the %" PRIu64
				" entries followed in %s: run paso-audit follow first\n",
				o.index, cp.size, o.state);
			rc = PASO_AUDIT_EXIT_USAGE;
			goto out;
		}
		tlogclient_set_edge(c, &f);
	}
	rc = PASO_AUDIT_EXIT_BAD;
	if (o.state == NULL && (r = tlogclient_checkpoint(c, &cp, NULL, NULL, &d)) != 0) {
		rc = fail(r, "checkpoint", &d);
		goto out;
	}
	if ((r = tlogclient_prove_entry(c, &cp, o.index, &entry, &len, &d)) != 0) {
		rc = fail(r, "tiles-prove", &d);
		goto out;
	}
	if ((e = paso__audit_entry__unpack(NULL, len, entry)) != NULL) {
		show_entry(o.index, e, o.json);
		paso__audit_entry__free_unpacked(e, NULL);
	} else {
		printf("#%" PRIu64 " (%zu bytes, not an AuditEntry)\n", o.index, len);
	}
	fprintf(stderr,
		"entry %" PRIu64 " is in the log of %" PRIu64 " entries signed by %s (%" PRIu64
		" files fetched, %s)\n",
		o.index, cp.size, checkpoint_verifier_name(v), tlogclient_fetches(c),
		o.state != NULL ? "against the checkpoint and right edge followed"
				: "checkpoint included");
	rc = 0;
out:
	free(entry);
	tlogclient_close(c);
	checkpoint_verifier_free(v);
	return rc;
}

/* ---- follow: the state is the last verified checkpoint and the tree's right edge ---- */

static int
save_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4200];
	struct paso_diag d = {0};

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -1;
	return durable_write(path, data, len, 0644, DURABLE_REPLACE, &d) == 0 ? 0 : -1;
}

static int
save_frontier(const char *dir, const struct merkle_frontier *f)
{
	uint8_t buf[sizeof(FRONTIER_MAGIC) + 8 + 64 * H], *p = buf;
	unsigned l;

	memcpy(p, FRONTIER_MAGIC, strlen(FRONTIER_MAGIC));
	p += strlen(FRONTIER_MAGIC);
	be64_put(p, f->size);
	p += 8;
	for (l = 0; l < 64; l++)
		if (f->size & ((uint64_t)1 << l)) {
			memcpy(p, f->h[l], H);
			p += H;
		}
	return save_file(dir, "frontier", buf, (size_t)(p - buf));
}

/* Loads the frontier and checks it is the tree of the remembered checkpoint. */
static int
load_frontier(const char *dir, const struct checkpoint *old, struct merkle_frontier *f)
{
	char path[4200];
	uint8_t *b, root[H];
	const uint8_t *p;
	size_t len, ml = strlen(FRONTIER_MAGIC), need;
	unsigned l;

	(void)snprintf(path, sizeof(path), "%s/frontier", dir);
	if ((b = (uint8_t *)slurp(path, 4096, &len)) == NULL)
		return -1;
	merkle_frontier_init(f);
	if (len < ml + 8 || memcmp(b, FRONTIER_MAGIC, ml) != 0) {
		free(b);
		return -1;
	}
	f->size = be64_get(b + ml);
	need = ml + 8 + (size_t)__builtin_popcountll(f->size) * H;
	if (len != need || f->size != old->size) {
		free(b);
		return -1;
	}
	p = b + ml + 8;
	for (l = 0; l < 64; l++)
		if (f->size & ((uint64_t)1 << l)) {
			memcpy(f->h[l], p, H);
			p += H;
		}
	free(b);
	merkle_frontier_root(f, root);
	return sodium_memcmp(root, old->root, H) == 0 ? 0 : -1;
}

/* The checkpoint and right edge follow remembered in dir, checked against each other and v. */
static int
load_state(const char *dir, const struct checkpoint_verifier *v, struct checkpoint *cp,
	struct merkle_frontier *f)
{
	struct paso_diag d = {0};
	char path[4200], *note;
	size_t len;
	int r;

	(void)snprintf(path, sizeof(path), "%s/checkpoint", dir);
	if ((note = slurp(path, CHECKPOINT_MAX_NOTE, &len)) == NULL) {
		fprintf(stderr, "paso-audit: %s: nothing followed yet (run paso-audit follow)\n",
			dir);
		return PASO_AUDIT_EXIT_USAGE;
	}
	r = checkpoint_open(note, len, v, cp, &d);
	free(note);
	if (r != 0 || load_frontier(dir, cp, f) != 0) {
		fprintf(stderr,
			"paso-audit: %s: the remembered state is damaged or of another log key "
			"(%s); move it away to start over\n",
			dir, r != 0 ? d.msg : "frontier does not give the checkpoint's root");
		return PASO_AUDIT_EXIT_USAGE;
	}
	return 0;
}

int
cmd_follow(int argc, char **argv)
{
	struct checkpoint_verifier *v = NULL;
	struct tlogclient *c = NULL;
	struct tlogclient_report rep;
	struct merkle_frontier f;
	struct checkpoint cp, old;
	struct paso_diag d = {0};
	char path[4200], *note = NULL, *oldnote = NULL, hx[2 * H + 1];
	size_t len, olen;
	struct opts o;
	int r, rc, have_old = 0;

	if ((rc = parse_opts("follow", argc, argv, 0, 1, &o)) != 0)
		return rc;
	if (mkdir(o.state, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "paso-audit: %s: cannot create: %s\n", o.state, strerror(errno));
		return PASO_AUDIT_EXIT_USAGE;
	}
	if ((rc = open_client(&o, &v, &c)) != 0)
		return rc;
	merkle_frontier_init(&f);
	(void)snprintf(path, sizeof(path), "%s/checkpoint", o.state);
	if ((oldnote = slurp(path, CHECKPOINT_MAX_NOTE, &olen)) != NULL) {
		if ((r = checkpoint_open(oldnote, olen, v, &old, &d)) != 0 ||
			load_frontier(o.state, &old, &f) != 0) {
			fprintf(stderr,
				"paso-audit: %s: the remembered state is damaged or of another log "
				"key (%s); move it away to start over\n",
				o.state,
				r != 0 ? d.msg : "frontier does not give the checkpoint's root");
			rc = PASO_AUDIT_EXIT_USAGE;
			goto out;
		}
		have_old = 1;
	}
	rc = PASO_AUDIT_EXIT_BAD;
	if ((r = tlogclient_checkpoint(c, &cp, &note, &len, &d)) != 0) {
		rc = fail(r, "checkpoint", &d);
		goto out;
	}
	if (have_old) {
		if (strcmp(old.origin, cp.origin) != 0) {
			r = paso_diag_set(&d, PASO_E_SPLIT_VIEW, "origin '%s', remembered '%s'",
				cp.origin, old.origin);
			rc = fail(r, "follow: refused", &d);
			goto out;
		}
		if (cp.size < old.size) {
			r = paso_diag_set(&d, PASO_E_ROLLBACK,
				"rollback: the published checkpoint has %" PRIu64
				" entries, %" PRIu64 " were verified before",
				cp.size, old.size);
			rc = fail(r, "follow: refused", &d);
			goto out;
		}
		if (cp.size == old.size && sodium_memcmp(cp.root, old.root, H) != 0) {
			r = paso_diag_set(&d, PASO_E_SPLIT_VIEW,
				"split view: size %" PRIu64 " now has another root than the one "
				"verified before",
				cp.size);
			rc = fail(r, "follow: refused", &d);
			goto out;
		}
		if ((r = tlogclient_check_consistency(c, old.size, old.root, &cp, &d)) != 0) {
			rc = fail(r, "follow: refused", &d);
			goto out;
		}
	}
	if ((r = tlogclient_verify_range(c, &cp, &f, !have_old, &rep, &d)) != 0) {
		rc = fail(r, "follow: FAILED", &d);
		goto out;
	}
	if (save_frontier(o.state, &f) != 0 || save_file(o.state, "checkpoint", note, len) != 0) {
		fprintf(stderr, "paso-audit: %s: cannot save the state\n", o.state);
		rc = PASO_AUDIT_EXIT_USAGE;
		goto out;
	}
	hex_encode(cp.root, H, hx);
	printf("followed: %" PRIu64 " new entries verified (%" PRIu64 "..%" PRIu64
	       "), checkpoint of %" PRIu64 " entries, root %s\n",
		rep.entries, have_old ? old.size : 0, cp.size, cp.size, hx);
	rc = 0;
out:
	free(note);
	free(oldnote);
	tlogclient_close(c);
	checkpoint_verifier_free(v);
	return rc;
}

/* ---- servers ---- */

static int
split_listen(const char *arg, char *host, size_t hcap, char *port, size_t pcap)
{
	const char *colon = strrchr(arg, ':');
	size_t hl;

	if (colon == NULL || colon == arg || colon[1] == '\0')
		return -1;
	hl = (size_t)(colon - arg);
	if (arg[0] == '[' && colon[-1] == ']') {
		arg++;
		hl -= 2;
	}
	if (hl >= hcap || strlen(colon + 1) >= pcap ||
		strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -1;
	memcpy(host, arg, hl);
	host[hl] = '\0';
	memcpy(port, colon + 1, strlen(colon + 1) + 1);
	return 0;
}

/* Blocks until SIGINT or SIGTERM. */
static void
wait_for_signal(void)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	(void)sigwait(&set, &sig);
}

static void
block_signals(void)
{
	sigset_t set;

	/* Before any thread starts, so that only sigwait receives them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int
cmd_serve(int argc, char **argv)
{
	struct httpmini_server *s = NULL;
	struct paso_diag d = {0};
	char host[128], port[16];
	struct stat st;
	int r;

	if (argc != 3 || strcmp(argv[1], "--listen") != 0)
		return usage("usage: serve DIR --listen HOST:PORT", NULL);
	if (stat(argv[0], &st) != 0 || !S_ISDIR(st.st_mode))
		return usage("serve: not a directory:", argv[0]);
	if (split_listen(argv[2], host, sizeof(host), port, sizeof(port)) != 0)
		return usage("serve: --listen wants HOST:PORT, not", argv[2]);
	block_signals();
	if ((r = httpmini_server_start(
		     host, port, 0, 10000, httpmini_static_handler, argv[0], &s, &d)) != 0)
		return fail(r, "serve", &d);
	printf("serving %s on http://%s%s%s:%u/\n", argv[0], strchr(host, ':') ? "[" : "", host,
		strchr(host, ':') ? "]" : "", httpmini_server_port(s));
	fflush(stdout);
	wait_for_signal();
	httpmini_server_stop(s);
	return 0;
}

static void
log_decision(void *ctx, const char *origin, uint64_t size, int code, const char *msg)
{
	(void)ctx;
	if (code == 0)
		fprintf(stderr, "paso-audit: witness: cosigned %s at %" PRIu64 " entries\n", origin,
			size);
	else
		fprintf(stderr,
			"paso-audit: witness: refused %s at %" PRIu64
			" entries: HTTP %d: %s [%s]\n",
			origin[0] ? origin : "(unparsed)", size, witness_http_status(code), msg,
			paso_errname(code));
}

int
cmd_witness_serve(int argc, char **argv)
{
	struct httpmini_server *s = NULL;
	struct witness *w = NULL;
	struct paso_diag d = {0};
	const char *listen = NULL, *name = "paso-witness";
	char host[128], port[16], *text = NULL;
	size_t len;
	int i, r, rc = PASO_AUDIT_EXIT_USAGE, nlogs = 0;

	if (argc < 1 || argv[0][0] == '-')
		return usage(
			"usage: witness-serve STATE --log-key VKEY|FILE --listen HOST:PORT", NULL);
	for (i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			return usage("witness-serve: this option needs a value:", argv[i]);
		if (strcmp(argv[i], "--listen") == 0)
			listen = argv[++i];
		else if (strcmp(argv[i], "--name") == 0)
			name = argv[++i];
		else if (strcmp(argv[i], "--log-key") == 0)
			i++;
		else
			return usage("witness-serve: unknown option", argv[i]);
	}
	if (listen == NULL || split_listen(listen, host, sizeof(host), port, sizeof(port)) != 0)
		return usage("witness-serve: --listen HOST:PORT is required", listen);
	if ((r = witness_open(argv[0], name, &w, &d)) != 0)
		return fail(r, "witness-serve", &d);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--log-key") != 0) {
			i++;
			continue;
		}
		i++;
		text = NULL;
		if (access(argv[i], F_OK) == 0 && (text = slurp(argv[i], 4096, &len)) == NULL) {
			fprintf(stderr, "paso-audit: %s: cannot read\n", argv[i]);
			goto out;
		}
		r = witness_add_log(w, text != NULL ? text : argv[i], &d);
		free(text);
		if (r != 0) {
			fprintf(stderr, "paso-audit: --log-key %s: %s [%s]\n", argv[i], d.msg,
				paso_errname(r));
			goto out;
		}
		nlogs++;
	}
	if (nlogs == 0) {
		rc = usage("witness-serve: at least one --log-key is required", NULL);
		goto out;
	}
	witness_set_observer(w, log_decision, NULL);
	block_signals();
	if ((r = httpmini_server_start(
		     host, port, WITNESS_MAX_BODY, 5000, witness_http_handler, w, &s, &d)) != 0) {
		rc = fail(r, "witness-serve", &d);
		goto out;
	}
	printf("witness %s listening on http://%s:%u/ (add-checkpoint)\n", witness_vkey(w), host,
		httpmini_server_port(s));
	fflush(stdout);
	wait_for_signal();
	httpmini_server_stop(s);
	rc = 0;
out:
	witness_close(w);
	return rc;
}
