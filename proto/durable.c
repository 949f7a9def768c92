/* SPDX-License-Identifier: Apache-2.0 */
/* Write-to-temporary, fsync, link or rename, fsync the directory: one place, every return checked. */
#include "durable.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
errno_code(int e)
{
	if (e == ENOSPC || e == EDQUOT)
		return PASO_E_STORE_FULL;
	if (e == EFBIG)
		return PASO_E_MAP_FULL;
	return e == EEXIST ? PASO_E_EXISTS : PASO_E_IO;
}

static int
write_all(int fd, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
durable_writeat(int dirfd, const char *name, const void *buf, size_t len, int mode,
	enum durable_mode how, const char *label, struct paso_diag *d)
{
	char tmp[NAME_MAX + 1];
	int fd = -1, r, e, placed = 0;
	const char *what;

	what = label != NULL ? label : name;
	if (name == NULL || name[0] == '\0' || strchr(name, '/') != NULL ||
		snprintf(tmp, sizeof(tmp), "%s.tmp", name) >= (int)sizeof(tmp))
		return paso_diag_set(d, PASO_E_INVALID_ARG, "%s: not a file name", what);
	/* A temporary left by a crash holds nothing acknowledged: it is never linked in. */
	if (unlinkat(dirfd, tmp, 0) != 0 && errno != ENOENT) {
		e = errno;
		return paso_diag_set(
			d, errno_code(e), "%s: removing %s: %s", what, tmp, strerror(e));
	}
	if (how == DURABLE_NEW && faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return paso_diag_set(d, PASO_E_EXISTS, "%s: %s", what, strerror(EEXIST));
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		e = errno;
		return paso_diag_set(d, errno_code(e), "%s: creating: %s", what, strerror(e));
	}
	/* The umask must not loosen or tighten what the caller asked for. */
	if (fchmod(fd, (mode_t)mode) != 0) {
		e = errno;
		r = paso_diag_set(d, errno_code(e), "%s: chmod: %s", what, strerror(e));
		goto out;
	}
	if (write_all(fd, buf, len) != 0) {
		e = errno;
		r = paso_diag_set(d, errno_code(e), "%s: writing: %s", what, strerror(e));
		goto out;
	}
	if (fsync(fd) != 0) {
		e = errno;
		r = paso_diag_set(d, errno_code(e), "%s: fsync: %s", what, strerror(e));
		goto out;
	}
	r = close(fd);
	fd = -1;
	if (r != 0) {
		e = errno;
		r = paso_diag_set(d, errno_code(e), "%s: closing: %s", what, strerror(e));
		goto out;
	}
	if (how == DURABLE_NEW)
		r = linkat(dirfd, tmp, dirfd, name, 0);
	else
		r = renameat(dirfd, tmp, dirfd, name);
	if (r != 0) {
		e = errno;
		r = paso_diag_set(d, errno_code(e), "%s: %s", what, strerror(e));
		goto out;
	}
	placed = 1;
	if (how == DURABLE_NEW && unlinkat(dirfd, tmp, 0) != 0) {
		e = errno;
		r = paso_diag_set(d, errno_code(e), "%s: removing %s: %s", what, tmp, strerror(e));
		goto out;
	}
	if (fsync(dirfd) != 0) {
		e = errno;
		r = paso_diag_set(
			d, errno_code(e), "%s: fsync of its directory: %s", what, strerror(e));
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		(void)close(fd);
	if (r != 0) {
		(void)unlinkat(dirfd, tmp, 0);
		/* A new file whose directory entry may not be durable is not handed out. */
		if (placed && how == DURABLE_NEW)
			(void)unlinkat(dirfd, name, 0);
	}
	return r;
}

int
durable_write(const char *path, const void *buf, size_t len, int mode, enum durable_mode how,
	struct paso_diag *d)
{
	char dir[PATH_MAX];
	const char *slash, *name;
	int dfd, r, e;
	size_t n;

	if (path == NULL || (slash = strrchr(path, '/')) == NULL) {
		name = path;
		(void)snprintf(dir, sizeof(dir), ".");
	} else {
		name = slash + 1;
		n = (size_t)(slash - path);
		if (n >= sizeof(dir))
			return paso_diag_set(d, PASO_E_INVALID_ARG, "path too long: %.80s", path);
		memcpy(dir, path, n);
		dir[n] = '\0';
		if (n == 0)
			(void)snprintf(dir, sizeof(dir), "/");
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		e = errno;
		return paso_diag_set(d, errno_code(e), "%s: opening its directory: %s",
			path != NULL ? path : "(null)", strerror(e));
	}
	r = durable_writeat(dfd, name, buf, len, mode, how, path, d);
	(void)close(dfd);
	return r;
}
