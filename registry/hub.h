/* SPDX-License-Identifier: Apache-2.0 */
/* The registry hub: serves kiosks over TLS, validates, matches, decides by policy, stores, logs. */
#ifndef PASO_HUB_H
#define PASO_HUB_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clock.h"
#include "errors.h"

struct hub;

/* paso-hub serve's default finger cache (--finger-cache-mb): about 1,000 ten-finger templates
 * or 5,000 two-finger ones. */
#define HUB_FINGER_CACHE_MB 64

struct hub_config {
	const char *dir;    /* deployment directory made by deploy_init */
	const char *host;   /* listen address; default "127.0.0.1" */
	uint16_t port;      /* 0 = ephemeral */
	uint32_t max_frame; /* default FRAME_DEFAULT_MAX */
	unsigned batch_max; /* most requests in one commit group; default 512 */
	int io_timeout_ms;  /* per read/write on a connection; default 30000 */
	unsigned max_conns; /* concurrent authenticated connections; default 256 */
	/* Connection handling, 0 = default (registry/server.h says which and what each does). */
	int handshake_ms;
	unsigned max_unauth;
	unsigned max_per_kiosk;
	int frame_ms;
	int idle_ms;
	FILE *log; /* where the hub logs one line per event; NULL = stderr */
	/* The hub's clock: real unless clock.simulated. With clock_resume, a simulated clock
	 * starts where the deployment's recorded time stands. */
	struct paso_clock clock;
	int clock_resume;
	uint64_t capture_window; /* seconds a kiosk capture_time may differ; 0 = 24 h */
	/* 1: finger templates stay in the sealed store and are opened for each full comparison
	 * (an audited read): 2.9 KB per person in memory instead of 52.1 KB, measured at 4,000
	 * enrolled; 0: in memory. */
	int fingers_in_store;
	/* With fingers_in_store: bytes of finger templates opened for comparisons kept in memory
	 * (gallery_set_finger_cache), so a candidate compared again is not opened again; each is
	 * wiped when evicted and when its subject is erased. 0: none kept. */
	size_t finger_cache_bytes;
	/* Niceness (1..19) of enrolment deduplication's passes, so that crossings never wait
	 * behind them (gallery_set_pass_nice); 0: they run at the hub's own priority. */
	int dedup_nice;
	/* Set (from a SIGHUP handler) to reload DIR/policy.yaml; the hub clears it. May be NULL. */
	volatile sig_atomic_t *reload;
	size_t sweep_batch; /* subjects erased per retention transaction; 0 = default */
	/* Test hook: SIGKILL itself right after a sweep's erasure commits, before its keys are
	 * destroyed (the worst moment for a crash). Never set outside tests. */
	int test_crash_after_sweep;
	uint16_t peer_port; /* partner port (national) or receive port (partner); 0 = ephemeral */
	/* Serve as a tlog-witness (plain HTTP add-checkpoint) on witness_host:witness_port for the
	 * logs whose keys DIR/witness/logs lists; NULL host: not a witness. Port "0": ephemeral. */
	const char *witness_host;
	const char *witness_port;
};

/*
 * Opens a deployment: keys, store, policy, audit log (through the ledger, which recovers after
 * an unclean stop: a RECOVERY entry says what was cut back), TLS and the listener, then logs
 * the policy, the read of every sealed record (durably, before the first is opened), loads
 * the gallery and logs HUB_START. A simulated clock may not start before the time the
 * deployment last recorded (PASO_E_FIELD_RANGE). Caller owns *out (hub_close).
 * Returns 0 or the first error, with d naming the file or step.
 */
int hub_open(const struct hub_config *cfg, struct hub **out, struct paso_diag *d);

/* The port the hub listens on (useful with port 0). */
uint16_t hub_port(const struct hub *h);

/* The peer port (partner port of a national hub with pinned partners, receive port of a
 * partner); 0 when the deployment has no peer link. */
uint16_t hub_peer_port(const struct hub *h);

/* The witness port (witness_host set), else 0. */
uint16_t hub_witness_port(const struct hub *h);

/* The path of the hub's control socket (DIR/control.sock). */
const char *hub_control_path(const struct hub *h);

/*
 * Opens the control socket and starts accepting kiosks and peers. Call it before telling anyone
 * the hub is up (port files): once it returns, control commands reach the hub.
 */
int hub_start(struct hub *h);

/*
 * After hub_start: serves until *stop becomes non-zero (set it from a signal handler): the flag is checked on
 * every iteration of the commit loop, under load too. Then it stops accepting, answers what
 * the connections already sent, logs HUB_STOP and signs a checkpoint. Returns 0 after a clean
 * stop or an error.
 */
int hub_run(struct hub *h, volatile sig_atomic_t *stop);

/* Releases everything; wipes keys. Accepts NULL. */
void hub_close(struct hub *h);

#endif
