/* SPDX-License-Identifier: Apache-2.0 */
/* paso-audit's commands over published logs (paso_audit_tlog.c) and the helpers they share. */
#ifndef PASO_AUDIT_CMDS_H
#define PASO_AUDIT_CMDS_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "errors.h"
#include "paso.pb-c.h"

#define PASO_AUDIT_EXIT_BAD 1   /* a check failed */
#define PASO_AUDIT_EXIT_USAGE 2 /* bad command line or unreadable input */

/* Helpers of paso_audit.c: usage message (returns 2), failure message (returns 1), strict
 * decimal, whole small file (caller frees; NULL on error), a vkey given inline or as a file. */
int usage(const char *msg, const char *arg);
int fail(int code, const char *what, const struct paso_diag *d);
int parse_u64(const char *s, uint64_t *v);
char *slurp(const char *path, size_t max, size_t *lenp);
int load_verifier(const char *arg, struct checkpoint_verifier **v);
/* Prints one decoded audit entry on stdout, as `show` does. */
void show_entry(uint64_t index, const Paso__AuditEntry *e, int json);

int cmd_tiles_verify(int argc, char **argv);
int cmd_tiles_prove(int argc, char **argv);
int cmd_follow(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_witness_serve(int argc, char **argv);

#endif
