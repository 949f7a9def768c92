/* SPDX-License-Identifier: Apache-2.0 */
/* Test harness: real programs in a temporary deployment, real hubs on ephemeral loopback ports. */
#ifndef PASO_TEST_HARNESS_H
#define PASO_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct deployment {
	char dir[512];  /* temporary root: hub in dir/hub, kiosks in dir/kiosks-work */
	char hub[600];  /* the hub's deployment directory */
	char work[600]; /* the kiosks' working directory */
	char log[600];  /* the hub's log file */
	pid_t hub_pid;
	uint16_t port;
	int tmpfs; /* dep->hub is a tmpfs mount of the test's (unmounted by h_cleanup) */
};

/* Creates a temporary deployment with the five kiosks issued. policy may be NULL. Asserts. */
void h_deploy(struct deployment *dep, const char *policy);
/*
 * The same with the hub's deployment directory on a tmpfs of size_kb KiB mounted for the test.
 * Returns 0, or the errno of a mount(2) that was refused (EPERM without root: skip the test).
 * The mount is undone by h_cleanup, or at exit if a failed assertion skipped that.
 */
int h_deploy_tmpfs(struct deployment *dep, unsigned long size_kb);
/* Resizes the tmpfs of dep (mount -o remount,size=). Returns 0 or errno. */
int h_tmpfs_resize(struct deployment *dep, unsigned long size_kb);
/* Kills pid (SIGKILL) at exit unless h_untrack_pid was called: for helpers a test spawns. */
void h_track_pid(pid_t pid);
void h_untrack_pid(pid_t pid);

/* Starts paso-hub serve on 127.0.0.1 (port 0 = ephemeral, else that port) and waits for it. */
void h_hub_start(struct deployment *dep, uint16_t port);
/* The same with extra arguments to serve (NULL-terminated list, e.g. "--clock", "sim:..."). */
void h_hub_start_ex(struct deployment *dep, uint16_t port, const char *const *extra);
/* Stops the hub with sig (SIGTERM: clean; SIGKILL: crash) and reaps it; returns its exit status. */
int h_hub_stop(struct deployment *dep, int sig);
/*
 * Kills (SIGKILL) and reaps every hub started and not yet stopped: what happens at exit, for a
 * test's teardown to call when a failed assertion skipped the test's own stops.
 */
void h_kill_hubs(void);
/* Removes the temporary tree. */
void h_cleanup(struct deployment *dep);

/*
 * Runs argv (argv[0] is a program name in PASO_BIN_DIR) to completion, stdout and stderr into a
 * malloc'd string *outp (may be NULL). Returns the exit status (-1 if killed by a signal).
 */
int h_run(char **outp, const char *const argv[]);
/* Starts argv in the background with output to a file; returns the pid. */
pid_t h_spawn(const char *outfile, const char *const argv[]);
/* Waits for pid; returns its exit status. */
int h_wait(pid_t pid);

/* Reads a whole file into a malloc'd NUL-terminated buffer; NULL if missing. */
char *h_read_file(const char *path, size_t *lenp);
/* Value of "key":NUMBER in a flat JSON object, or -1. */
long long h_json_num(const char *json, const char *key);
/* Count of non-overlapping occurrences of needle in hay. */
size_t h_count(const char *hay, const char *needle);

#endif
