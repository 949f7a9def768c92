/* SPDX-License-Identifier: Apache-2.0 */
/* paso-audit: the outsider's tool to build, prove, verify and witness Paso audit logs. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "logread.h"
#include "checkpoint.h"
#include "durable.h"
#include "errors.h"
#include "hex.h"
#include "sharecheck.h"
#include "merkle.h"
#include "paso.pb-c.h"
#include "paso_audit_cmds.h"

#define H MERKLE_HASH_BYTES
#define EXIT_BAD 1   /* verification failed, proof invalid, witness refused */
#define EXIT_USAGE 2 /* bad command line or unreadable input */
#define MAX_LINE_BYTES (2u * 1024u * 1024u)

static const char usage_text[] =
	"usage: paso-audit COMMAND [ARGS]\n"
	"\n"
	"Trees from stdin (one hex-encoded leaf per line; an empty line is the empty leaf):\n"
	"  root                          print the RFC 6962 root of the leaves, in hex\n"
	"  inclusion INDEX SIZE          print the inclusion proof of leaf INDEX (0-based) in the "
	"tree\n"
	"                                of the first SIZE leaves: one hex hash per line, leaf to "
	"root\n"
	"  consistency OLD NEW           print the consistency proof from size OLD to size NEW, "
	"the same way\n"
	"\n"
	"Proof checks (RFC 9162 verification; the proof on stdin, one 64-digit hex hash per line,\n"
	"leaf to root; blank lines and lines starting with '#' are ignored; exit 0 valid, 1 "
	"invalid):\n"
	"  check-inclusion LEAF_HASH INDEX SIZE ROOT\n"
	"  check-consistency OLD NEW OLD_ROOT NEW_ROOT\n"
	"      LEAF_HASH and roots are 64 hex digits; LEAF_HASH is SHA-256(0x00 || entry).\n"
	"\n"
	"Audit directories (DIR is a deployment holding audit/, or the audit directory itself):\n"
	"  verify DIR [--key VKEY|FILE] [--known CHECKPOINT_FILE]\n"
	"      recompute the whole tree from the entries and check it against the latest "
	"checkpoint\n"
	"      and its signature; name the first bad entry. By default the key is DIR's log.vkey: "
	"an\n"
	"      outsider should pass --key with the log's public key obtained out of band. --known\n"
	"      gives a checkpoint seen earlier (e.g. one a witness cosigned): the log must extend "
	"it.\n"
	"  checkpoint DIR                print the latest signed checkpoint\n"
	"  prove DIR --index I [--size N]\n"
	"      print the inclusion proof of entry I in the tree of size N (default: the latest\n"
	"      checkpoint's size) on stdout; leaf hash and root go to stderr\n"
	"  prove DIR --consistency OLD [--size N]\n"
	"      print the consistency proof from size OLD to N (default: the latest checkpoint)\n"
	"  show DIR [--from I] [--to J] [--json]\n"
	"      print entries I..J (inclusive) decoded as paso AuditEntry; --json: one object per "
	"line\n"
	"\n"
	"Witness (c2sp.org/tlog-cosignature, cosignature/v1):\n"
	"  witness STATE --log-key VKEY|FILE --checkpoint FILE|- [--proof FILE] [--name NAME] "
	"[--time T]\n"
	"      check the log's signature on the new checkpoint and, with the consistency proof "
	"(one hex\n"
	"      hash per line, as printed by 'prove DIR --consistency OLD') from the last "
	"checkpoint this\n"
	"      witness cosigned for that log, that it extends it; then print the checkpoint with "
	"this\n"
	"      witness's cosignature added and remember it. Refuses (exit 1, reason on stderr) a\n"
	"      rollback (smaller tree) or a split view (same size, other root; or an inconsistent "
	"tree).\n"
	"      STATE is created on first use with a new witness key named NAME (default "
	"paso-witness):\n"
	"      STATE/witness.key (secret, 0600), STATE/witness.vkey (publish it), "
	"STATE/log-*.checkpoint.\n"
	"      The first checkpoint seen of a log is trusted as is. --time sets the cosignature "
	"time.\n"
	"\n"
	"Published logs (c2sp.org/tlog-tiles; BASE is a tiles directory or http://HOST:PORT/PREFIX/):\n"
	"  tiles-verify BASE --key VKEY|FILE [--witness VKEY|FILE ...]\n"
	"      fetch every entry bundle and hash tile, recompute each tile from the level below and\n"
	"      the root from the entries, and check it against the signed checkpoint; each --witness\n"
	"      key must have cosigned that checkpoint (c2sp.org/tlog-cosignature)\n"
	"  tiles-prove BASE --key VKEY|FILE --index I [--state DIR] [--json]\n"
	"      fetch entry I and only the tiles its inclusion proof needs; verify it against the\n"
	"      signed checkpoint; print the entry (decoded) and the number of files fetched;\n"
	"      with --state DIR, against the checkpoint follow verified there, whose right edge it\n"
	"      remembers: at most one file per tile level, ceil(log256 n)\n"
	"  follow BASE --key VKEY|FILE --state DIR\n"
	"      verify what was added since the checkpoint remembered in DIR (created on first use)\n"
	"      and remember the new one; refuse a rollback or a log that does not extend it\n"
	"  serve DIR --listen HOST:PORT\n"
	"      serve DIR read-only over plain HTTP (for tests and loopback; any web server will do)\n"
	"  witness-serve STATE --log-key VKEY|FILE [--log-key ...] --listen HOST:PORT [--name N]\n"
	"      answer c2sp.org/tlog-witness add-checkpoint requests for these logs, with the state\n"
	"      and key of 'witness STATE'; prints the port, logs each decision on stderr\n"
	"\n"
	"Sharing between two deployments:\n"
	"  shares NATIONAL_DIR PARTNER_DIR [--national-key VKEY|FILE] [--partner-key VKEY|FILE]\n"
	"      verify both logs, then check that every SHARE the national hub logged to the\n"
	"      partner has exactly one RECEIVE in the partner's log (same per-partner pseudonym,\n"
	"      share_seq and rule) and back, each with an inclusion proof in its signed log.\n"
	"      Names come from the logs' keys (paso/NAME). Entries past a checkpoint are left out.\n"
	"\n"
	"Exit status: 0 success, 1 a check failed (reason on stderr), 2 usage or input error.\n";

/* Prints "paso-audit: MSG" (and 'ARG' when not NULL) and returns the usage exit status. */
int
usage(const char *msg, const char *arg)
{
	if (msg != NULL) {
		fprintf(stderr, "paso-audit: %s", msg);
		if (arg != NULL)
			fprintf(stderr, " '%s'", arg);
		fputs("\n(run 'paso-audit --help' for usage)\n", stderr);
	} else {
		fputs(usage_text, stderr);
	}
	return EXIT_USAGE;
}

int
fail(int code, const char *what, const struct paso_diag *d)
{
	fprintf(stderr, "paso-audit: %s: %s [%s]\n", what,
		d != NULL && d->msg[0] ? d->msg : paso_strerror(code), paso_errname(code));
	return EXIT_BAD;
}

int
parse_u64(const char *s, uint64_t *v)
{
	unsigned long long x;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*v = (uint64_t)x;
	return 0;
}

static int
parse_hash(const char *s, uint8_t out[H])
{
	size_t n = 0;

	if (strlen(s) != 2 * H || hex_decode(s, out, H, &n) != 0 || n != H)
		return -1;
	return 0;
}

static void
print_hash(FILE *f, const uint8_t h[H])
{
	char hx[2 * H + 1];

	hex_encode(h, H, hx);
	fprintf(f, "%s\n", hx);
}

/* Reads stdin: one hex leaf per line, hashed. Caller frees *leavesp. */
static int
read_leaves(uint8_t (**leavesp)[H], uint64_t *np)
{
	uint8_t(*leaves)[H] = NULL, (*nl)[H], *bytes = NULL;
	char *line = NULL;
	size_t cap = 0, lcap = 0, blen;
	ssize_t got;
	uint64_t n = 0;
	int rc = EXIT_USAGE;

	*leavesp = NULL;
	*np = 0;
	while ((got = getline(&line, &lcap, stdin)) >= 0) {
		if (got > 0 && line[got - 1] == '\n')
			line[--got] = '\0';
		if (got > 0 && line[got - 1] == '\r')
			line[--got] = '\0';
		if ((size_t)got > MAX_LINE_BYTES) {
			fprintf(stderr,
				"paso-audit: stdin line %" PRIu64
				": leaf longer than %u hex digits\n",
				n + 1, MAX_LINE_BYTES);
			goto out;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			if ((nl = realloc(leaves, cap * H)) == NULL)
				goto out;
			leaves = nl;
		}
		free(bytes);
		if ((bytes = malloc((size_t)got / 2 + 1)) == NULL)
			goto out;
		if (hex_decode(line, bytes, (size_t)got / 2 + 1, &blen) != 0) {
			fprintf(stderr, "paso-audit: stdin line %" PRIu64 ": not hex: '%.40s'\n",
				n + 1, line);
			goto out;
		}
		merkle_leaf_hash(bytes, blen, leaves[n++]);
	}
	*leavesp = leaves;
	*np = n;
	leaves = NULL;
	rc = 0;
out:
	free(line);
	free(bytes);
	free(leaves);
	return rc;
}

/* Reads a proof (hex hashes) from stdin. 0, EXIT_BAD (malformed) with a message. */
static int
read_proof_file(FILE *f, const char *name, uint8_t (*proof)[H], size_t *np)
{
	char *line = NULL;
	size_t lcap = 0, lineno = 0, n = 0;
	ssize_t got;
	int rc = 0;

	*np = 0;
	while ((got = getline(&line, &lcap, f)) >= 0) {
		lineno++;
		while (got > 0 &&
			(line[got - 1] == '\n' || line[got - 1] == '\r' || line[got - 1] == ' '))
			line[--got] = '\0';
		if (got == 0 || line[0] == '#')
			continue;
		if (n >= MERKLE_MAX_PROOF) {
			fprintf(stderr, "paso-audit: %s line %zu: proof longer than %d hashes\n",
				name, lineno, MERKLE_MAX_PROOF);
			rc = EXIT_BAD;
			break;
		}
		if (parse_hash(line, proof[n]) != 0) {
			fprintf(stderr,
				"paso-audit: proof invalid: %s line %zu is not a 64-digit hex "
				"hash: '%.70s'\n",
				name, lineno, line);
			rc = EXIT_BAD;
			break;
		}
		n++;
	}
	free(line);
	*np = n;
	return rc;
}

static int
cmd_root(int argc, char **argv)
{
	uint8_t(*leaves)[H] = NULL, root[H];
	uint64_t n;
	int rc;

	(void)argv;
	if (argc != 0)
		return usage("root takes no arguments (leaves come on stdin)", NULL);
	if ((rc = read_leaves(&leaves, &n)) != 0)
		return rc;
	(void)merkle_root((const uint8_t(*)[H])leaves, n, root);
	print_hash(stdout, root);
	free(leaves);
	return 0;
}

static int
cmd_proof(int argc, char **argv, int inclusion)
{
	uint8_t(*leaves)[H] = NULL, path[MERKLE_MAX_PROOF][H];
	uint64_t a, b, n;
	size_t np, i;
	int rc, r;

	if (argc != 2 || parse_u64(argv[0], &a) != 0 || parse_u64(argv[1], &b) != 0)
		return usage(
			inclusion ? "usage: inclusion INDEX SIZE" : "usage: consistency OLD NEW",
			NULL);
	if ((rc = read_leaves(&leaves, &n)) != 0)
		return rc;
	if (b > n) {
		fprintf(stderr,
			"paso-audit: size %" PRIu64 " but only %" PRIu64 " leaves on stdin\n", b,
			n);
		free(leaves);
		return EXIT_USAGE;
	}
	if (inclusion)
		r = merkle_inclusion_proof(
			(const uint8_t(*)[H])leaves, b, a, path, MERKLE_MAX_PROOF, &np);
	else
		r = merkle_consistency_proof(
			(const uint8_t(*)[H])leaves, b, a, path, MERKLE_MAX_PROOF, &np);
	free(leaves);
	if (r != 0) {
		fprintf(stderr, "paso-audit: %s\n",
			inclusion ? "INDEX must be below SIZE"
				  : "OLD must be at least 1 and at most NEW");
		return EXIT_USAGE;
	}
	for (i = 0; i < np; i++)
		print_hash(stdout, path[i]);
	return 0;
}

static int
cmd_check(int argc, char **argv, int inclusion)
{
	uint8_t a[H], root[H], root2[H], proof[MERKLE_MAX_PROOF][H];
	uint64_t x, y;
	size_t np;
	int r;

	if (inclusion) {
		if (argc != 4 || parse_hash(argv[0], a) != 0 || parse_u64(argv[1], &x) != 0 ||
			parse_u64(argv[2], &y) != 0 || parse_hash(argv[3], root) != 0)
			return usage("usage: check-inclusion LEAF_HASH INDEX SIZE ROOT (hashes: 64 "
				     "hex digits)",
				NULL);
	} else {
		if (argc != 4 || parse_u64(argv[0], &x) != 0 || parse_u64(argv[1], &y) != 0 ||
			parse_hash(argv[2], root) != 0 || parse_hash(argv[3], root2) != 0)
			return usage("usage: check-consistency OLD NEW OLD_ROOT NEW_ROOT (roots: "
				     "64 hex digits)",
				NULL);
	}
	if (read_proof_file(stdin, "stdin", proof, &np) != 0)
		return EXIT_BAD;
	if (inclusion)
		r = merkle_verify_inclusion(a, x, y, (const uint8_t(*)[H])proof, np, root);
	else
		r = merkle_verify_consistency(x, y, root, root2, (const uint8_t(*)[H])proof, np);
	if (r != 0) {
		if (inclusion)
			fprintf(stderr,
				"paso-audit: proof invalid: leaf %" PRIu64
				" is not in the tree of size %" PRIu64
				" with that root under this %zu-hash proof%s\n",
				x, y, np, x >= y ? " (index is not below size)" : "");
		else
			fprintf(stderr,
				"paso-audit: proof invalid: the tree of size %" PRIu64
				" is not shown to extend the"
				" tree of size %" PRIu64 " by this %zu-hash proof%s\n",
				y, x, np,
				x == 0  ? " (old size 0 proves nothing)"
				: x > y ? " (old size above new size)"
					: "");
		return EXIT_BAD;
	}
	printf("proof valid\n");
	return 0;
}

/* DIR may be the deployment (holding audit/) or the audit directory. */
static void
resolve_auditdir(const char *dir, char *out, size_t cap)
{
	struct stat st;
	char p[4096];

	if (snprintf(p, sizeof(p), "%s/audit/entries", dir) < (int)sizeof(p) && stat(p, &st) == 0) {
		(void)snprintf(out, cap, "%s/audit", dir);
		return;
	}
	(void)snprintf(out, cap, "%s", dir);
}

/* Reads a whole (small) file; NULL on failure. */
char *
slurp(const char *path, size_t max, size_t *lenp)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *b = NULL, *nb;
	size_t len = 0, cap = 0, got;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			if (cap > max + 8192 || (nb = realloc(b, cap)) == NULL) {
				free(b);
				b = NULL;
				break;
			}
			b = nb;
		}
		got = fread(b + len, 1, cap - len - 1, f);
		len += got;
		if (got == 0)
			break;
	}
	if (f != stdin)
		fclose(f);
	if (b != NULL) {
		if (len > max) {
			free(b);
			return NULL;
		}
		b[len] = '\0';
		*lenp = len;
	}
	return b;
}

/* --key value: a vkey text, or a file holding one. */
int
load_verifier(const char *arg, struct checkpoint_verifier **v)
{
	struct paso_diag d = {0};
	struct stat st;
	char *text = NULL;
	size_t len;
	int r;

	if (stat(arg, &st) == 0) {
		if ((text = slurp(arg, 64 * 1024, &len)) == NULL) {
			fprintf(stderr, "paso-audit: %s: cannot read the key file\n", arg);
			return EXIT_USAGE;
		}
		r = checkpoint_verifier_parse(text, v, &d);
	} else {
		r = checkpoint_verifier_parse(arg, v, &d);
	}
	if (r != 0) {
		fprintf(stderr, "paso-audit: key %s: %s [%s]\n", text != NULL ? arg : "given",
			d.msg, paso_errname(r));
		free(text);
		return EXIT_USAGE;
	}
	free(text);
	return 0;
}

static int
cmd_verify(int argc, char **argv)
{
	struct checkpoint_verifier *v = NULL;
	struct logread_report rep;
	struct checkpoint known, *kp = NULL;
	struct paso_diag d = {0};
	const char *key = NULL, *known_path = NULL;
	char dir[4096], keypath[4200], hx[2 * H + 1], *kn = NULL;
	size_t knlen;
	int i, r, rc = EXIT_BAD;

	if (argc < 1 || argv[0][0] == '-')
		return usage("usage: verify DIR [--key VKEY|FILE] [--known CHECKPOINT_FILE]", NULL);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
			key = argv[++i];
		else if (strcmp(argv[i], "--known") == 0 && i + 1 < argc)
			known_path = argv[++i];
		else
			return usage("verify: unknown or incomplete option", argv[i]);
	}
	resolve_auditdir(argv[0], dir, sizeof(dir));
	if (key == NULL) {
		(void)snprintf(keypath, sizeof(keypath), "%s/log.vkey", dir);
		key = keypath;
		if (access(keypath, R_OK) != 0) {
			fprintf(stderr, "paso-audit: %s: no log key; pass --key\n", keypath);
			return EXIT_USAGE;
		}
	}
	if ((rc = load_verifier(key, &v)) != 0)
		return rc;
	if (known_path != NULL) {
		/* The known checkpoint must itself carry the log's signature. */
		if ((kn = slurp(known_path, CHECKPOINT_MAX_NOTE, &knlen)) == NULL) {
			fprintf(stderr, "paso-audit: %s: cannot read\n", known_path);
			rc = EXIT_USAGE;
			goto out;
		}
		if ((r = checkpoint_open(kn, knlen, v, &known, &d)) != 0) {
			rc = fail(r, known_path, &d);
			goto out;
		}
		kp = &known;
	}
	r = logread_verify(dir, v, kp, &rep, &d);
	if (r != 0) {
		fprintf(stderr, "paso-audit: verify %s: FAILED: %s [%s]\n", dir, d.msg,
			paso_errname(r));
		rc = EXIT_BAD;
		goto out;
	}
	hex_encode(rep.root, H, hx);
	printf("audit log OK: %" PRIu64 " entries, root %s, checkpoint signed by %s\n",
		rep.checkpoint_size, hx, rep.signer);
	if (rep.entries > rep.checkpoint_size)
		fprintf(stderr,
			"note: %" PRIu64
			" more entries after the checkpoint, framing checked, not yet signed\n",
			rep.entries - rep.checkpoint_size);
	if (rep.torn_bytes > 0)
		fprintf(stderr,
			"note: %" PRIu64 " bytes of an incomplete entry at the end (a torn write "
			"the hub cuts on restart)\n",
			rep.torn_bytes);
	rc = 0;
out:
	free(kn);
	checkpoint_verifier_free(v);
	return rc;
}

static int
cmd_checkpoint(int argc, char **argv)
{
	char dir[4096], path[4200], *text;
	size_t len;

	if (argc != 1)
		return usage("usage: checkpoint DIR", NULL);
	resolve_auditdir(argv[0], dir, sizeof(dir));
	(void)snprintf(path, sizeof(path), "%s/checkpoint", dir);
	if ((text = slurp(path, CHECKPOINT_MAX_NOTE, &len)) == NULL) {
		fprintf(stderr, "paso-audit: %s: no checkpoint (%s)\n", path, strerror(errno));
		return EXIT_BAD;
	}
	fwrite(text, 1, len, stdout);
	free(text);
	return 0;
}

/* Opens DIR read-only and finds the latest checkpoint's size. */
static int
open_for_reading(const char *arg, struct logread **log, uint64_t *cp_size)
{
	struct paso_diag d = {0};
	char dir[4096];
	int r;

	resolve_auditdir(arg, dir, sizeof(dir));
	if ((r = logread_open(dir, log, &d)) != 0)
		return fail(r, "open", &d);
	if (d.code == PASO_E_AUDIT_TORN)
		fprintf(stderr, "note: %s\n", d.msg);
	*cp_size = logread_checkpoint_size(*log);
	return 0;
}

static int
cmd_prove(int argc, char **argv)
{
	struct logread *log = NULL;
	uint8_t path[MERKLE_MAX_PROOF][H], leaf[H], root[H], old[H];
	char hl[2 * H + 1], hr[2 * H + 1];
	uint64_t index = 0, size = 0, oldsz = 0, cps;
	size_t np, k;
	int i, have_index = 0, have_old = 0, have_size = 0, rc, r;

	if (argc < 1 || argv[0][0] == '-')
		return usage("usage: prove DIR --index I [--size N] | prove DIR --consistency OLD "
			     "[--size N]",
			NULL);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--index") == 0 && i + 1 < argc &&
			parse_u64(argv[i + 1], &index) == 0)
			have_index = 1;
		else if (strcmp(argv[i], "--consistency") == 0 && i + 1 < argc &&
			 parse_u64(argv[i + 1], &oldsz) == 0)
			have_old = 1;
		else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc &&
			 parse_u64(argv[i + 1], &size) == 0)
			have_size = 1;
		else
			return usage("prove: unknown, incomplete or non-numeric option", argv[i]);
		i++;
	}
	if (have_index == have_old)
		return usage("prove: give exactly one of --index I or --consistency OLD", NULL);
	if ((rc = open_for_reading(argv[0], &log, &cps)) != 0)
		return rc;
	if (!have_size)
		size = cps;
	if (size > logread_size(log)) {
		fprintf(stderr,
			"paso-audit: size %" PRIu64 " but the log holds %" PRIu64 " entries\n",
			size, logread_size(log));
		rc = EXIT_USAGE;
		goto out;
	}
	if (have_index) {
		if (index >= size) {
			fprintf(stderr,
				"paso-audit: entry %" PRIu64 " is not in the tree of size %" PRIu64
				"%s\n",
				index, size, have_size ? "" : " (the latest checkpoint)");
			rc = EXIT_USAGE;
			goto out;
		}
		if ((r = logread_inclusion(log, index, size, path, MERKLE_MAX_PROOF, &np)) != 0 ||
			(r = logread_leaf_hash(log, index, leaf)) != 0 ||
			(r = logread_root(log, size, root)) != 0) {
			rc = fail(r, "prove", NULL);
			goto out;
		}
		hex_encode(leaf, H, hl);
		hex_encode(root, H, hr);
		fprintf(stderr,
			"inclusion proof of entry %" PRIu64 " in the tree of size %" PRIu64
			": leaf hash %s, root %s\n",
			index, size, hl, hr);
	} else {
		if (oldsz == 0 || oldsz > size) {
			fprintf(stderr, "paso-audit: OLD must be between 1 and %" PRIu64 "\n",
				size);
			rc = EXIT_USAGE;
			goto out;
		}
		if ((r = logread_consistency(log, oldsz, size, path, MERKLE_MAX_PROOF, &np)) != 0 ||
			(r = logread_root(log, oldsz, old)) != 0 ||
			(r = logread_root(log, size, root)) != 0) {
			rc = fail(r, "prove", NULL);
			goto out;
		}
		hex_encode(old, H, hl);
		hex_encode(root, H, hr);
		fprintf(stderr,
			"consistency proof from size %" PRIu64 " (root %s) to size %" PRIu64
			" (root %s)\n",
			oldsz, hl, size, hr);
	}
	for (k = 0; k < np; k++)
		print_hash(stdout, path[k]);
	rc = 0;
out:
	logread_close(log);
	return rc;
}

/* Prints s with control characters and quotes escaped (JSON-compatible in json mode). */
static void
put_str(const char *s, size_t len, int json)
{
	size_t i;
	unsigned char c;

	if (json)
		putchar('"');
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			printf(json ? "\\u%04x" : "\\x%02x", c);
		else
			putchar(c);
	}
	if (json)
		putchar('"');
}

static void
put_hex(const uint8_t *p, size_t len, int json)
{
	size_t i;

	if (json)
		putchar('"');
	for (i = 0; i < len; i++)
		printf("%02x", p[i]);
	if (json)
		putchar('"');
}

static const char *
enum_name(const ProtobufCEnumDescriptor *desc, int value)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);

	return v != NULL ? v->name : "UNKNOWN";
}

void
show_entry(uint64_t index, const Paso__AuditEntry *e, int json)
{
	char when[32] = "";
	struct tm tm;
	time_t t = (time_t)e->time;
	const char *sep = json ? "," : " ";
	const char *kq = json ? "\"" : "";
	const char *eq = json ? ":" : "=";

#define KEY(k) printf("%s%s%s%s%s", sep, kq, k, kq, eq)
	if (gmtime_r(&t, &tm) != NULL)
		(void)strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (json)
		printf("{\"index\":%" PRIu64 ",\"time\":%" PRIu64 ",\"time_utc\":\"%s\"", index,
			e->time, when);
	else
		printf("#%" PRIu64 " %s", index, when);
	KEY("action");
	put_str(enum_name(&paso__action__descriptor, (int)e->action),
		strlen(enum_name(&paso__action__descriptor, (int)e->action)), json);
	KEY("actor");
	put_str(e->actor, strlen(e->actor), json);
	KEY("code");
	if (json)
		printf("%d,\"code_name\":\"%s\"", e->code, paso_errname(e->code));
	else
		printf("%d(%s)", e->code, paso_errname(e->code));
	if (e->subject.len > 0) {
		KEY("subject");
		put_hex(e->subject.data, e->subject.len, json);
	}
	if (e->kiosk_seq != 0) {
		KEY("kiosk_seq");
		printf("%" PRIu64, e->kiosk_seq);
	}
	if (e->purpose[0]) {
		KEY("purpose");
		put_str(e->purpose, strlen(e->purpose), json);
	}
	if (e->policy_rule[0]) {
		KEY("policy_rule");
		put_str(e->policy_rule, strlen(e->policy_rule), json);
	}
	if (e->policy_digest.len > 0) {
		KEY("policy_digest");
		put_hex(e->policy_digest.data, e->policy_digest.len, json);
	}
	if (e->payload_digest.len > 0) {
		KEY("payload_digest");
		put_hex(e->payload_digest.data, e->payload_digest.len, json);
	}
	if (e->crossing_point[0]) {
		KEY("crossing_point");
		put_str(e->crossing_point, strlen(e->crossing_point), json);
	}
	if (e->category != 0) {
		KEY("category");
		put_str(enum_name(&paso__category__descriptor, (int)e->category),
			strlen(enum_name(&paso__category__descriptor, (int)e->category)), json);
	}
	if (e->recipient[0]) {
		KEY("recipient");
		put_str(e->recipient, strlen(e->recipient), json);
	}
	if (e->match != NULL) {
		const char *dn = enum_name(&paso__decision__descriptor, (int)e->match->decision);

		KEY("decision");
		put_str(dn, strlen(dn), json);
		KEY("scores");
		if (json)
			printf("{\"finger\":%.6g,\"face\":%.6g,\"iris\":%.6g,\"fused\":%.6g,"
			       "\"threshold_fmr\":%.6g}",
				e->match->finger_score, e->match->face_score, e->match->iris_score,
				e->match->fused_score, e->match->threshold_fmr);
		else
			printf("finger:%.4g,face:%.4g,iris:%.4g,fused:%.4g,fmr:%.3g",
				e->match->finger_score, e->match->face_score, e->match->iris_score,
				e->match->fused_score, e->match->threshold_fmr);
		if (e->match->candidate.len > 0) {
			KEY("candidate");
			put_hex(e->match->candidate.data, e->match->candidate.len, json);
		}
	}
	if (e->detail[0]) {
		KEY("detail");
		put_str(e->detail, strlen(e->detail), json);
	}
#undef KEY
	puts(json ? "}" : "");
}

static int
cmd_show(int argc, char **argv)
{
	struct logread *log = NULL;
	Paso__AuditEntry *e;
	uint8_t *buf = NULL;
	uint64_t from = 0, to = UINT64_MAX, i, cps;
	size_t len;
	int json = 0, rc, r, bad = 0, k;

	if (argc < 1 || argv[0][0] == '-')
		return usage("usage: show DIR [--from I] [--to J] [--json]", NULL);
	for (k = 1; k < argc; k++) {
		if (strcmp(argv[k], "--json") == 0)
			json = 1;
		else if (strcmp(argv[k], "--from") == 0 && k + 1 < argc &&
			 parse_u64(argv[k + 1], &from) == 0)
			k++;
		else if (strcmp(argv[k], "--to") == 0 && k + 1 < argc &&
			 parse_u64(argv[k + 1], &to) == 0)
			k++;
		else
			return usage("show: unknown, incomplete or non-numeric option", argv[k]);
	}
	if ((rc = open_for_reading(argv[0], &log, &cps)) != 0)
		return rc;
	if (to >= logread_size(log))
		to = logread_size(log) == 0 ? 0 : logread_size(log) - 1;
	for (i = from; i <= to && i < logread_size(log); i++) {
		if ((r = logread_entry(log, i, &buf, &len)) != 0) {
			fprintf(stderr, "paso-audit: entry %" PRIu64 ": %s [%s]\n", i,
				paso_strerror(r), paso_errname(r));
			bad = 1;
			continue;
		}
		if ((e = paso__audit_entry__unpack(NULL, len, buf)) == NULL) {
			fprintf(stderr,
				"paso-audit: entry %" PRIu64
				": %zu bytes that are not an AuditEntry\n",
				i, len);
			bad = 1;
		} else {
			show_entry(i, e, json);
			paso__audit_entry__free_unpacked(e, NULL);
		}
		free(buf);
		buf = NULL;
	}
	logread_close(log);
	return bad ? EXIT_BAD : 0;
}

/* ---- witness ---- */

static int
write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	struct paso_diag d = {0};

	return durable_write(path, data, len, (int)mode, DURABLE_REPLACE, &d) == 0 ? 0 : -1;
}

static int
witness_signer(const char *state, const char *name, struct checkpoint_signer **w)
{
	char kp[4200], vp[4200], *skey = NULL, *vkey = NULL, *text;
	size_t len;
	int r;

	(void)snprintf(kp, sizeof(kp), "%s/witness.key", state);
	(void)snprintf(vp, sizeof(vp), "%s/witness.vkey", state);
	if (access(kp, F_OK) != 0) {
		if ((r = checkpoint_witness_keygen(name, &skey, &vkey)) != 0) {
			fprintf(stderr, "paso-audit: witness name '%s' is not a valid key name\n",
				name);
			return EXIT_USAGE;
		}
		r = write_file(kp, skey, strlen(skey), 0600);
		checkpoint_text_free(skey);
		if (r != 0 || write_file(vp, vkey, strlen(vkey), 0644) != 0) {
			fprintf(stderr, "paso-audit: %s: cannot write the witness key\n", state);
			free(vkey);
			return EXIT_USAGE;
		}
		fprintf(stderr, "paso-audit: created witness key %s (public key in %s)\n", vkey,
			vp);
		free(vkey);
	}
	if ((text = slurp(kp, 4096, &len)) == NULL) {
		fprintf(stderr, "paso-audit: %s: cannot read\n", kp);
		return EXIT_USAGE;
	}
	r = checkpoint_signer_from_text(text, w);
	checkpoint_text_free(text);
	if (r != 0) {
		fprintf(stderr, "paso-audit: %s: not a witness key [%s]\n", kp, paso_errname(r));
		return EXIT_USAGE;
	}
	return 0;
}

static int
cmd_witness(int argc, char **argv)
{
	struct checkpoint_verifier *lv = NULL;
	struct checkpoint_signer *w = NULL;
	struct checkpoint cp, old;
	struct paso_diag d = {0};
	uint8_t proof[MERKLE_MAX_PROOF][H];
	const char *key = NULL, *cpath = NULL, *ppath = NULL, *name = "paso-witness";
	char statefile[4300], *note = NULL, *oldnote = NULL, *cos = NULL, ho[2 * H + 1],
			      hn[2 * H + 1];
	size_t len, olen, np = 0;
	uint64_t ts = (uint64_t)time(NULL);
	FILE *pf;
	int i, r, rc = EXIT_BAD, have_old = 0;

	if (argc < 1 || argv[0][0] == '-')
		return usage("usage: witness STATE --log-key VKEY|FILE --checkpoint FILE|- "
			     "[--proof FILE]",
			NULL);
	for (i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			return usage("witness: this option needs a value:", argv[i]);
		if (strcmp(argv[i], "--log-key") == 0)
			key = argv[++i];
		else if (strcmp(argv[i], "--checkpoint") == 0)
			cpath = argv[++i];
		else if (strcmp(argv[i], "--proof") == 0)
			ppath = argv[++i];
		else if (strcmp(argv[i], "--name") == 0)
			name = argv[++i];
		else if (strcmp(argv[i], "--time") == 0) {
			if (parse_u64(argv[++i], &ts) != 0)
				return usage("witness: --time wants seconds since the epoch, not",
					argv[i]);
		} else
			return usage("witness: unknown option", argv[i]);
	}
	if (key == NULL || cpath == NULL)
		return usage("witness: --log-key and --checkpoint are required", NULL);
	if ((rc = load_verifier(key, &lv)) != 0)
		return rc;
	rc = EXIT_BAD;
	if ((note = slurp(cpath, CHECKPOINT_MAX_NOTE, &len)) == NULL) {
		fprintf(stderr, "paso-audit: %s: cannot read the checkpoint\n", cpath);
		rc = EXIT_USAGE;
		goto out;
	}
	if ((r = checkpoint_open(note, len, lv, &cp, &d)) != 0) {
		fprintf(stderr,
			"paso-audit: witness: refused: checkpoint not signed by the log key: %s "
			"[%s]\n",
			d.msg, paso_errname(r));
		goto out;
	}
	if (mkdir(argv[0], 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "paso-audit: %s: cannot create: %s\n", argv[0], strerror(errno));
		rc = EXIT_USAGE;
		goto out;
	}
	if ((rc = witness_signer(argv[0], name, &w)) != 0)
		goto out;
	rc = EXIT_BAD;
	(void)snprintf(statefile, sizeof(statefile), "%s/log-%08x.checkpoint", argv[0],
		checkpoint_verifier_keyid(lv));
	{
		char journal[4300];

		(void)snprintf(journal, sizeof(journal), "%s/log-%08x.journal", argv[0],
			checkpoint_verifier_keyid(lv));
		if (access(journal, F_OK) == 0) {
			fprintf(stderr,
				"paso-audit: witness: %s is the state of a witness-serve: ask that "
				"server (add-checkpoint), so that both never disagree\n",
				journal);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	if ((oldnote = slurp(statefile, CHECKPOINT_MAX_NOTE, &olen)) != NULL) {
		if ((r = checkpoint_open(oldnote, olen, lv, &old, &d)) != 0) {
			fprintf(stderr, "paso-audit: %s: stored state does not verify: %s\n",
				statefile, d.msg);
			rc = EXIT_USAGE;
			goto out;
		}
		have_old = 1;
	}
	if (ppath != NULL) {
		if ((pf = strcmp(ppath, "-") == 0 ? stdin : fopen(ppath, "r")) == NULL) {
			fprintf(stderr, "paso-audit: %s: cannot read the proof\n", ppath);
			rc = EXIT_USAGE;
			goto out;
		}
		r = read_proof_file(pf, ppath, proof, &np);
		if (pf != stdin)
			fclose(pf);
		if (r != 0)
			goto out;
	}
	if (have_old) {
		hex_encode(old.root, H, ho);
		hex_encode(cp.root, H, hn);
		if (strcmp(old.origin, cp.origin) != 0) {
			fprintf(stderr,
				"paso-audit: witness: refused: split view: origin '%s' differs "
				"from '%s' last cosigned [SPLIT_VIEW]\n",
				cp.origin, old.origin);
			goto out;
		}
		if (cp.size < old.size) {
			fprintf(stderr,
				"paso-audit: witness: refused: rollback: checkpoint of size "
				"%" PRIu64 " is older than the size %" PRIu64
				" already cosigned [ROLLBACK]\n",
				cp.size, old.size);
			goto out;
		}
		if (cp.size == old.size && sodium_memcmp(cp.root, old.root, H) != 0) {
			fprintf(stderr,
				"paso-audit: witness: refused: split view: size %" PRIu64
				" has root %s, but root %s was"
				" cosigned for that size [SPLIT_VIEW]\n",
				cp.size, hn, ho);
			goto out;
		}
		if (cp.size > old.size && old.size > 0 &&
			merkle_verify_consistency(old.size, cp.size, old.root, cp.root,
				(const uint8_t(*)[H])proof, np) != 0) {
			fprintf(stderr,
				"paso-audit: witness: refused: split view: no valid consistency "
				"proof (%zu hashes given)"
				" that size %" PRIu64
				" (root %s) extends the cosigned size %" PRIu64
				" (root %s) [SPLIT_VIEW]\n",
				np, cp.size, hn, old.size, ho);
			goto out;
		}
	} else {
		fprintf(stderr,
			"paso-audit: witness: first checkpoint of %s seen (size %" PRIu64
			"): trusted as is\n",
			cp.origin, cp.size);
	}
	if ((r = checkpoint_cosign(w, note, len, ts, &cos, &d)) != 0) {
		rc = fail(r, "witness", &d);
		goto out;
	}
	if (write_file(statefile, cos, strlen(cos), 0644) != 0) {
		fprintf(stderr, "paso-audit: %s: cannot save the witness state\n", statefile);
		rc = EXIT_USAGE;
		goto out;
	}
	fputs(cos, stdout);
	rc = 0;
out:
	free(note);
	free(oldnote);
	free(cos);
	checkpoint_verifier_free(lv);
	checkpoint_signer_free(w);
	return rc;
}

/* "paso/NAME" -> NAME */
static const char *
log_name(const struct checkpoint_verifier *v)
{
	const char *n = checkpoint_verifier_name(v);

	return strncmp(n, "paso/", 5) == 0 ? n + 5 : n;
}

static int
cmd_shares(int argc, char **argv)
{
	struct checkpoint_verifier *nv = NULL, *pv = NULL;
	struct sharecheck_report rep;
	struct paso_diag d = {0};
	const char *nkey = NULL, *pkey = NULL;
	char ndir[4096], pdir[4096], nk[4200], pk[4200];
	int i, r, rc;

	if (argc < 2 || argv[0][0] == '-' || argv[1][0] == '-')
		return usage("usage: shares NATIONAL_DIR PARTNER_DIR [--national-key K] "
			     "[--partner-key K]",
			NULL);
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--national-key") == 0 && i + 1 < argc)
			nkey = argv[++i];
		else if (strcmp(argv[i], "--partner-key") == 0 && i + 1 < argc)
			pkey = argv[++i];
		else
			return usage("shares: unknown or incomplete option", argv[i]);
	}
	resolve_auditdir(argv[0], ndir, sizeof(ndir));
	resolve_auditdir(argv[1], pdir, sizeof(pdir));
	(void)snprintf(nk, sizeof(nk), "%s/log.vkey", ndir);
	(void)snprintf(pk, sizeof(pk), "%s/log.vkey", pdir);
	if ((rc = load_verifier(nkey != NULL ? nkey : nk, &nv)) != 0 ||
		(rc = load_verifier(pkey != NULL ? pkey : pk, &pv)) != 0)
		goto out;
	r = sharecheck_run(ndir, nv, log_name(nv), pdir, pv, log_name(pv), stdout, &rep, &d);
	if (r != 0 && r != PASO_E_PROOF_INVALID) {
		rc = fail(r, "shares", &d);
		goto out;
	}
	printf("shares from '%s' to '%s': %" PRIu64 " SHARE entries, %" PRIu64
	       " RECEIVE entries, %" PRIu64 " matched one to one, each proven in both signed "
	       "logs\n",
		log_name(nv), log_name(pv), rep.shares, rep.receives, rep.matched);
	if (rep.unsigned_entries > 0)
		printf("note: %" PRIu64 " entries past the checkpoints were not examined\n",
			rep.unsigned_entries);
	rc = r == 0 ? 0 : fail(r, "shares", &d);
out:
	checkpoint_verifier_free(nv);
	checkpoint_verifier_free(pv);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *cmd;

	if (sodium_init() < 0) {
		fputs("paso-audit: libsodium failed to initialise\n", stderr);
		return EXIT_BAD;
	}
	if (argc < 2)
		return usage(NULL, NULL);
	cmd = argv[1];
	argc -= 2;
	argv += 2;
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (strcmp(cmd, "root") == 0)
		return cmd_root(argc, argv);
	if (strcmp(cmd, "inclusion") == 0)
		return cmd_proof(argc, argv, 1);
	if (strcmp(cmd, "consistency") == 0)
		return cmd_proof(argc, argv, 0);
	if (strcmp(cmd, "check-inclusion") == 0)
		return cmd_check(argc, argv, 1);
	if (strcmp(cmd, "check-consistency") == 0)
		return cmd_check(argc, argv, 0);
	if (strcmp(cmd, "verify") == 0)
		return cmd_verify(argc, argv);
	if (strcmp(cmd, "checkpoint") == 0)
		return cmd_checkpoint(argc, argv);
	if (strcmp(cmd, "prove") == 0)
		return cmd_prove(argc, argv);
	if (strcmp(cmd, "show") == 0)
		return cmd_show(argc, argv);
	if (strcmp(cmd, "witness") == 0)
		return cmd_witness(argc, argv);
	if (strcmp(cmd, "tiles-verify") == 0)
		return cmd_tiles_verify(argc, argv);
	if (strcmp(cmd, "tiles-prove") == 0)
		return cmd_tiles_prove(argc, argv);
	if (strcmp(cmd, "follow") == 0)
		return cmd_follow(argc, argv);
	if (strcmp(cmd, "serve") == 0)
		return cmd_serve(argc, argv);
	if (strcmp(cmd, "witness-serve") == 0)
		return cmd_witness_serve(argc, argv);
	if (strcmp(cmd, "shares") == 0)
		return cmd_shares(argc, argv);
	return usage("unknown command", cmd);
}
