/* SPDX-License-Identifier: Apache-2.0 */
/* Paso's one error table: the same codes are returned by functions, sent on the wire and logged. */
#ifndef PASO_ERRORS_H
#define PASO_ERRORS_H

#include <stddef.h>

/*
 * X(name, value, message). Values are negative and stable: they travel in Error.code and
 * AuditEntry.code, so never renumber one; add new codes with new values.
 */
#define PASO_ERRORS(X)                                                                             \
	X(OK, 0, "success")                                                                        \
	X(INTERNAL, -1, "internal error")                                                          \
	X(NOMEM, -2, "out of memory")                                                              \
	X(IO, -3, "input/output error")                                                            \
	X(INVALID_ARG, -4, "invalid argument")                                                     \
	X(USAGE, -5, "bad command line")                                                           \
	X(EXISTS, -6, "already exists")                                                            \
	X(NOT_FOUND, -7, "not found")                                                              \
	X(FRAME_TRUNCATED, -10, "truncated frame")                                                 \
	X(FRAME_TOO_LARGE, -11, "frame length exceeds the maximum")                                \
	X(DECODE, -12, "message is not a valid protobuf Envelope")                                 \
	X(UNKNOWN_MESSAGE, -13, "unknown or missing message type")                                 \
	X(MISSING_FIELD, -14, "required field missing")                                            \
	X(FIELD_RANGE, -15, "field value out of range")                                            \
	X(SEQ_CONFLICT, -16, "sequence number reused with different content")                      \
	X(KIOSK_MISMATCH, -17, "kiosk id does not match the certificate")                          \
	X(UNKNOWN_KIOSK, -18, "unknown kiosk")                                                     \
	X(SEQ_INVALID, -19, "invalid sequence number")                                             \
	X(TEMPLATE_FORMAT, -20, "malformed biometric template")                                    \
	X(TEMPLATE_VERSION, -21, "unsupported biometric template version")                         \
	X(TEMPLATE_TRUNCATED, -22, "truncated biometric template")                                 \
	X(NOT_ENROLLED, -30, "card is not enrolled")                                               \
	X(DUPLICATE, -31, "subject already enrolled")                                              \
	X(POLICY_DENIED, -32, "denied by policy")                                                  \
	X(POLICY_SYNTAX, -33, "policy file syntax error")                                          \
	X(POLICY_UNKNOWN_KEY, -34, "unknown key in policy file")                                   \
	X(POLICY_RANGE, -35, "policy value out of range")                                          \
	X(CARD_ENROLLED, -36, "card is already enrolled")                                          \
	X(POLICY_TYPE, -37, "policy value has the wrong type")                                     \
	X(POLICY_MISSING, -38, "required policy key missing")                                      \
	X(POLICY_CONFLICT, -39, "policy settings contradict each other")                           \
	X(CRYPTO, -40, "decryption or authentication failed")                                      \
	X(KEY_NOT_FOUND, -41, "key not found (erased?)")                                           \
	X(STORAGE, -42, "storage error")                                                           \
	X(MAP_FULL, -43, "storage is full")                                                        \
	X(CORRUPT, -44, "stored data is corrupt")                                                  \
	X(STORE_FULL, -45, "the hub's disk is full; retry later")                                  \
	X(TLS, -50, "TLS error")                                                                   \
	X(CERT, -51, "certificate refused")                                                        \
	X(PEER_CLOSED, -52, "peer closed the connection")                                          \
	X(TIMEOUT, -53, "timed out")                                                               \
	X(SHUTTING_DOWN, -54, "hub is shutting down")                                              \
	X(AUDIT_CORRUPT, -60, "audit log entry corrupt")                                           \
	X(AUDIT_SIGNATURE, -61, "bad checkpoint signature")                                        \
	X(PROOF_INVALID, -62, "proof does not verify")                                             \
	X(CHECKPOINT_FORMAT, -63, "malformed checkpoint or key")                                   \
	X(ROLLBACK, -64, "log rolled back")                                                        \
	X(SPLIT_VIEW, -65, "inconsistent log views")                                               \
	X(AUDIT_TORN, -66, "torn audit log tail")                                                  \
	X(UNKNOWN_PARTNER, -70, "unknown partner")                                                 \
	X(PURPOSE_DENIED, -71, "purpose not allowed for this partner")                             \
	X(BUDGET_EXCEEDED, -72, "partner query budget exhausted")                                  \
	X(CASE_UNKNOWN, -73, "unknown case token")                                                 \
	X(CASE_EXPIRED, -74, "case token expired")                                                 \
	X(CASE_USED_UP, -75, "case token has no releases left")                                    \
	X(SUBJECT_ERASED, -76, "subject erased")

enum paso_err {
#define PASO_ERR_ENUM(name, value, msg) PASO_E_##name = (value),
	PASO_ERRORS(PASO_ERR_ENUM)
#undef PASO_ERR_ENUM
};

/* Text for a PASO_E_* code; never NULL. Unknown codes give "unknown error". */
const char *paso_strerror(int code);

/* Symbolic name of a code without the prefix, e.g. "FRAME_TOO_LARGE"; "UNKNOWN" if unknown. */
const char *paso_errname(int code);

/*
 * A diagnostic: the detailed message that goes with a code, naming the bad input and its
 * place ("policies/x.yaml:12: retention_days.crossing out of range 1..36500: '99999'").
 * Callers own it (usually on the stack). Never put secrets or biometric bytes in one.
 */
struct paso_diag {
	int code;
	char msg[512];
};

/*
 * Copies at most max bytes of the NUL-terminated string in (from a client, a file, anything not
 * ours) into out (cap bytes, always terminated) so that it is safe in a log line or a message:
 * printable ASCII stays, every other byte and the backslash and quote become \xNN; a cut-short
 * result ends in "...". Returns out. Never quote template content, even escaped.
 */
char *paso_escape(char *out, size_t cap, const char *in, size_t max);

/*
 * The code for a failed system call's errno: PASO_E_STORE_FULL for a full disk or quota
 * (ENOSPC, EDQUOT), a condition that passes once space is freed; PASO_E_IO otherwise.
 */
int paso_errno_io(int e);

/* Sets d->code and formats d->msg (truncating safely); returns code. d may be NULL. */
int paso_diag_set(struct paso_diag *d, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
