/* SPDX-License-Identifier: Apache-2.0 */
/* Certificate issuance with OpenSSL 3: Ed25519 keys, private keys written 0600 exclusively and durably. */
#include "pki.h"

#include "durable.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#define PKI_DAYS 825

static int
ossl_fail(struct paso_diag *d, const char *what)
{
	char buf[256];

	ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
	ERR_clear_error();
	return paso_diag_set(d, PASO_E_CERT, "%s: %s", what, buf);
}

/* PEM-encodes key (secure heap) or certificate into *bufp; the caller wipes and frees it. */
static int
pem_encode(EVP_PKEY *key, X509 *x, char **bufp, size_t *lenp)
{
	BIO *b = key != NULL ? BIO_new(BIO_s_secmem()) : BIO_new(BIO_s_mem());
	char *data = NULL;
	long n;
	int ok;

	*bufp = NULL;
	*lenp = 0;
	if (b == NULL)
		return PASO_E_NOMEM;
	ok = key != NULL ? PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)
			 : PEM_write_bio_X509(b, x);
	if (ok != 1 || (n = BIO_get_mem_data(b, &data)) <= 0 ||
		(*bufp = OPENSSL_secure_malloc((size_t)n)) == NULL) {
		BIO_free(b);
		return PASO_E_CERT;
	}
	memcpy(*bufp, data, (size_t)n);
	*lenp = (size_t)n;
	OPENSSL_cleanse(data, (size_t)n);
	BIO_free(b);
	return 0;
}

/* Key first, then certificate, each written whole and durable; a certificate never lacks its key. */
static int
write_pair(EVP_PKEY *key, X509 *x, const char *cert_path, const char *key_path, struct paso_diag *d)
{
	char *kpem = NULL, *cpem = NULL;
	size_t klen = 0, clen = 0;
	int r;

	if ((r = pem_encode(key, NULL, &kpem, &klen)) != 0 ||
		(r = pem_encode(NULL, x, &cpem, &clen)) != 0) {
		r = ossl_fail(d, "PEM encoding");
		goto out;
	}
	if ((r = durable_write(key_path, kpem, klen, 0600, DURABLE_NEW, d)) != 0)
		goto out;
	if ((r = durable_write(cert_path, cpem, clen, 0644, DURABLE_NEW, d)) != 0) {
		(void)unlink(key_path);
		goto out;
	}
out:
	OPENSSL_secure_clear_free(kpem, klen);
	OPENSSL_secure_clear_free(cpem, clen);
	return r;
}

static int
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value)) == NULL)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

static X509 *
new_cert(EVP_PKEY *pub, const char *cn)
{
	X509 *x = X509_new();
	uint8_t serial[16];
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;

	if (x == NULL || RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;
	if ((bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
		(ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL || X509_set_version(x, 2) != 1 ||
		X509_set_serialNumber(x, ai) != 1 ||
		X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
		X509_gmtime_adj(X509_getm_notAfter(x), 60L * 60 * 24 * PKI_DAYS) == NULL ||
		X509_set_pubkey(x, pub) != 1 ||
		X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "O", MBSTRING_ASC,
			(const unsigned char *)"Paso", -1, -1, 0) != 1 ||
		X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
			(const unsigned char *)cn, -1, -1, 0) != 1)
		goto fail;
	BN_free(bn);
	ASN1_INTEGER_free(ai);
	return x;
fail:
	BN_free(bn);
	ASN1_INTEGER_free(ai);
	X509_free(x);
	return NULL;
}

int
pki_create_ca(const char *cert_path, const char *key_path, const char *cn, struct paso_diag *d)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	int r;

	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL) {
		r = ossl_fail(d, "CA key generation");
		goto out;
	}
	if ((x = new_cert(key, cn)) == NULL ||
		X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") != 0 ||
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") != 0 ||
		add_ext(x, x, NID_subject_key_identifier, "hash") != 0 ||
		X509_sign(x, key, NULL) <= 0) {
		r = ossl_fail(d, "CA certificate");
		goto out;
	}
	r = write_pair(key, x, cert_path, key_path, d);
out:
	X509_free(x);
	EVP_PKEY_free(key);
	return r;
}

static int
load_ca(const char *ca_cert, const char *ca_key, X509 **xp, EVP_PKEY **kp, struct paso_diag *d)
{
	FILE *f;

	*xp = NULL;
	*kp = NULL;
	if ((f = fopen(ca_cert, "r")) == NULL)
		return paso_diag_set(d, PASO_E_CERT, "%s: %s", ca_cert, strerror(errno));
	*xp = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (*xp == NULL)
		return ossl_fail(d, ca_cert);
	if ((f = fopen(ca_key, "r")) == NULL)
		return paso_diag_set(d, PASO_E_CERT, "%s: %s", ca_key, strerror(errno));
	*kp = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (*kp == NULL)
		return ossl_fail(d, ca_key);
	return 0;
}

int
pki_issue(const char *ca_cert, const char *ca_key, const char *cn, int server,
	const char *cert_path, const char *key_path, struct paso_diag *d)
{
	EVP_PKEY *key = NULL, *cakey = NULL;
	X509 *x = NULL, *ca = NULL;
	char san[300];
	int r;

	if ((r = load_ca(ca_cert, ca_key, &ca, &cakey, d)) != 0)
		goto out;
	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL) {
		r = ossl_fail(d, "key generation");
		goto out;
	}
	(void)snprintf(san, sizeof(san), "DNS:%s", cn);
	if ((x = new_cert(key, cn)) == NULL ||
		X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1 ||
		add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
		add_ext(x, ca, NID_key_usage, "critical,digitalSignature") != 0 ||
		add_ext(x, ca, NID_ext_key_usage, server ? "serverAuth" : "clientAuth") != 0 ||
		(server && add_ext(x, ca, NID_subject_alt_name, san) != 0) ||
		X509_sign(x, cakey, NULL) <= 0) {
		r = ossl_fail(d, "certificate");
		goto out;
	}
	r = write_pair(key, x, cert_path, key_path, d);
out:
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	return r;
}

static int
read_pem_cert(const char *path, X509 **xp, struct paso_diag *d)
{
	FILE *f;

	*xp = NULL;
	if ((f = fopen(path, "r")) == NULL)
		return paso_diag_set(d, PASO_E_CERT, "%s: %s", path, strerror(errno));
	*xp = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (*xp == NULL) {
		ERR_clear_error();
		return paso_diag_set(d, PASO_E_CERT, "%s: damaged: not a PEM certificate", path);
	}
	return 0;
}

int
pki_check_pair(
	const char *ca_cert, const char *cert_path, const char *key_path, struct paso_diag *d)
{
	EVP_PKEY *key = NULL, *capub = NULL;
	X509 *ca = NULL, *x = NULL;
	FILE *f = NULL;
	int r;

	if ((r = read_pem_cert(ca_cert, &ca, d)) != 0 || (r = read_pem_cert(cert_path, &x, d)) != 0)
		goto out;
	if ((capub = X509_get_pubkey(ca)) == NULL || X509_verify(x, capub) != 1) {
		r = paso_diag_set(d, PASO_E_CERT,
			"%s: damaged or foreign: its signature does not verify under %s", cert_path,
			ca_cert);
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		r = paso_diag_set(d, PASO_E_CERT, "%s: expired", cert_path);
		goto out;
	}
	if ((f = fopen(key_path, "r")) == NULL) {
		r = paso_diag_set(d, PASO_E_CERT, "%s: %s", key_path, strerror(errno));
		goto out;
	}
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	if (key == NULL) {
		r = paso_diag_set(d, PASO_E_CERT, "%s: damaged: not a PEM private key", key_path);
		goto out;
	}
	if (X509_check_private_key(x, key) != 1) {
		r = paso_diag_set(d, PASO_E_CERT, "%s: does not belong to %s", key_path, cert_path);
		goto out;
	}
	r = 0;
out:
	ERR_clear_error();
	if (f != NULL)
		fclose(f);
	EVP_PKEY_free(key);
	EVP_PKEY_free(capub);
	X509_free(x);
	X509_free(ca);
	return r;
}

int
pki_cert_cn(const char *path, char *out, size_t outlen, struct paso_diag *d)
{
	FILE *f;
	X509 *x;
	int n;

	if ((f = fopen(path, "r")) == NULL)
		return paso_diag_set(d, PASO_E_CERT, "%s: %s", path, strerror(errno));
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL)
		return ossl_fail(d, path);
	n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)outlen);
	X509_free(x);
	if (n <= 0 || (size_t)n >= outlen)
		return paso_diag_set(d, PASO_E_CERT, "%s: no usable common name", path);
	return 0;
}

int
pki_cert_is_ca(const char *path, struct paso_diag *d)
{
	FILE *f;
	X509 *x = NULL;
	int r;

	if ((f = fopen(path, "r")) == NULL)
		return paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL) {
		ERR_clear_error();
		return paso_diag_set(d, PASO_E_CERT, "%s: not a PEM certificate", path);
	}
	/* X509_check_ca: 1 for a CA with basicConstraints CA:TRUE (and keyCertSign if present). */
	r = X509_check_ca(x) == 1 && X509_check_issued(x, x) == X509_V_OK
		    ? 0
		    : paso_diag_set(d, PASO_E_CERT,
			      "%s: not a self-signed CA certificate (a deployment's ca/ca.crt)",
			      path);
	X509_free(x);
	return r;
}
