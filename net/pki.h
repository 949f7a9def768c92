/* SPDX-License-Identifier: Apache-2.0 */
/* A deployment's small PKI: its own CA, the hub's server certificate, kiosk client certificates. */
#ifndef PASO_PKI_H
#define PASO_PKI_H

#include "errors.h"

/*
 * Creates a self-signed Ed25519 CA named cn, writing PEM files: the key with mode 0600
 * (created exclusively: PASO_E_EXISTS if it is there), the certificate 0644.
 * Returns 0, PASO_E_EXISTS, PASO_E_IO or PASO_E_CERT, with d naming the file.
 */
int pki_create_ca(const char *cert_path, const char *key_path, const char *cn, struct paso_diag *d);

/*
 * Issues an Ed25519 certificate for cn signed by the CA. server != 0 makes a TLS server
 * certificate whose subjectAltName is DNS:cn; otherwise a client certificate. Same file
 * rules and return codes as pki_create_ca. The private key is never printed or logged.
 */
int pki_issue(const char *ca_cert, const char *ca_key, const char *cn, int server,
	const char *cert_path, const char *key_path, struct paso_diag *d);

/*
 * Checks a certificate and its key before anything relies on them: both parse, the certificate
 * is signed by the CA in ca_cert and not expired, the key belongs to it. Returns 0 or
 * PASO_E_CERT with d naming the file and saying whether it is damaged, foreign or expired.
 */
int pki_check_pair(const char *ca_cert, const char *cert_path, const char *key_path,
	struct paso_diag *d);

/* Copies the common name of the PEM certificate at path into out. 0, PASO_E_CERT. */
int pki_cert_cn(const char *path, char *out, size_t outlen, struct paso_diag *d);

/*
 * 0 if the PEM file at path holds a self-signed CA certificate (basicConstraints CA:TRUE), as
 * a deployment's ca/ca.crt does; PASO_E_CERT (d says why) or PASO_E_IO otherwise.
 */
int pki_cert_is_ca(const char *path, struct paso_diag *d);

#endif
