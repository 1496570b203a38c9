/* SPDX-License-Identifier: Apache-2.0 */
/* Whole-disk block devices from /sys/block, and a digest of each one's first MiB. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ascii.h"
#include "bootsect.h"
#include "meta.h"

enum kind { K_NONE, K_DISK, K_LOOP, K_MD };

/* Skips a run of digits at *p; false if there is none. */
static bool digits(const char **p)
{
	const char *s = *p;

	while (ascii_is_digit(**p))
		(*p)++;
	return *p != s;
}

/* prefix followed by one or more lower-case letters and nothing else. */
static bool letters_after(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(name, prefix, n) != 0 || name[n] == '\0')
		return false;
	for (const char *p = name + n; *p; p++)
		if (*p < 'a' || *p > 'z')
			return false;
	return true;
}

/* prefix followed by digits only. */
static bool digits_after(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *p = name + n;

	return strncmp(name, prefix, n) == 0 && digits(&p) && *p == '\0';
}

static enum kind classify(const char *name)
{
	const char *p;

	if (letters_after(name, "sd") || letters_after(name, "vd") || letters_after(name, "xvd") ||
	    letters_after(name, "hd"))
		return K_DISK;
	if (digits_after(name, "mmcblk"))
		return K_DISK;
	/* nvme<ctrl>n<ns>: nvme<ctrl>c<path>n<ns> is a hidden multipath leg. */
	if (strncmp(name, "nvme", 4) == 0) {
		p = name + 4;
		if (digits(&p) && *p++ == 'n' && digits(&p) && *p == '\0')
			return K_DISK;
		return K_NONE;
	}
	if (digits_after(name, "loop"))
		return K_LOOP;
	if (digits_after(name, "md"))
		return K_MD;
	return K_NONE;
}

bool vigil_boot_name_is_disk(const char *name)
{
	return name != NULL && classify(name) != K_NONE;
}

/* Reads a small sysfs attribute of the device directory dfd as an unsigned number
 * ("123\n"). Returns false if it is missing or not a number. */
static bool read_number(int dfd, const char *attr, unsigned long long *out)
{
	char buf[32];
	ssize_t n;
	char *end;
	int fd = openat(dfd, attr, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	if (buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	if (!ascii_is_digit(buf[0]))
		return false;
	errno = 0;
	*out = strtoull(buf, &end, 10);
	return errno == 0 && *end == '\0';
}

/* Whether the kernel found a partition table: a partition shows up as a subdirectory
 * holding a "partition" attribute (Documentation/ABI/stable/sysfs-block). */
static bool has_partitions(int dfd)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *d;
	bool found = false;
	DIR *dir;

	if (fd < 0)
		return false;
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return false;
	}
	while (!found && (d = readdir(dir)) != NULL) {
		char attr[NAME_MAX + 16];

		if (d->d_name[0] == '.')
			continue;
		snprintf(attr, sizeof(attr), "%s/partition", d->d_name);
		found = faccessat(dirfd(dir), attr, F_OK, AT_EACCESS) == 0;
	}
	closedir(dir);
	return found;
}

static bool wanted(int sysfd, const char *name)
{
	enum kind k = classify(name);
	unsigned long long size = 0, hidden = 0;
	bool ok;
	int dfd;

	if (k == K_NONE)
		return false;
	/* /sys/block/NAME is a symlink into /sys/devices: followed on purpose. */
	if ((dfd = openat(sysfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return false;
	ok = read_number(dfd, "size", &size) && size > 0;
	if (ok && read_number(dfd, "hidden", &hidden) && hidden != 0)
		ok = false;
	if (ok && k == K_MD)
		ok = has_partitions(dfd);
	close(dfd);
	return ok;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void vigil_boot_devices_free(char **devs, size_t n)
{
	if (devs == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(devs[i]);
	free(devs);
}

int vigil_boot_devices_at(const char *sys_block, char ***out, size_t *n)
{
	char **v = NULL;
	size_t nv = 0, cap = 0;
	struct dirent *d;
	DIR *dir;
	int r, err;

	*out = NULL;
	*n = 0;
	if ((dir = opendir(sys_block)) == NULL)
		return VIGIL_E_SYSTEM;
	errno = 0;
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.' || !wanted(dirfd(dir), d->d_name)) {
			errno = 0;
			continue;
		}
		if (nv + 2 > cap) {
			size_t ncap = cap ? cap * 2 : 8;
			char **q = realloc(v, ncap * sizeof(*v));

			if (q == NULL) {
				r = VIGIL_E_NOMEM;
				goto out;
			}
			v = q;
			cap = ncap;
		}
		if ((v[nv] = malloc(strlen(d->d_name) + 6)) == NULL) {
			r = VIGIL_E_NOMEM;
			goto out;
		}
		strcpy(v[nv], "/dev/");
		strcat(v[nv], d->d_name);
		nv++;
		errno = 0;
	}
	if (errno != 0) {
		r = VIGIL_E_SYSTEM;
		goto out;
	}
	if (v == NULL && (v = malloc(sizeof(*v))) == NULL) {
		r = VIGIL_E_NOMEM;
		goto out;
	}
	if (nv)
		qsort(v, nv, sizeof(*v), cmp_str);
	v[nv] = NULL;
	*out = v;
	*n = nv;
	v = NULL; /* transferred */
	r = 0;
out:
	err = errno;
	vigil_boot_devices_free(v, nv);
	closedir(dir);
	errno = err;
	return r;
}

int vigil_boot_devices(char ***out, size_t *n)
{
	return vigil_boot_devices_at("/sys/block", out, n);
}

int vigil_boot_sector_digest(const char *dev_path, vigil_hash_algo algo, uint8_t *out,
			     uint8_t *out_len, int64_t *bytes_read)
{
	/* O_NONBLOCK: a FIFO put in the device's place would block a plain open until a
	 * writer comes (fifo(7)); fstat refuses it before any read. */
	const int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
	uint64_t size = 0;
	int64_t limit;
	struct stat st;
	off_t pos;
	int fd, r, err;

	if (bytes_read)
		*bytes_read = 0;
	if (dev_path == NULL || out == NULL || out_len == NULL ||
	    (unsigned)algo >= VIGIL_HASH_COUNT)
		return VIGIL_E_INVALID;
	*out_len = 0;
	if ((fd = open(dev_path, flags)) < 0)
		return VIGIL_E_SYSTEM;
	if (fstat(fd, &st) != 0) {
		r = VIGIL_E_SYSTEM;
		goto out;
	}
	if (!S_ISBLK(st.st_mode)) {
		errno = ENOTBLK;
		r = VIGIL_E_INVALID;
		goto out;
	}
	/* Reads must wait for the device like anyone else's. */
	if (fcntl(fd, F_SETFL, 0) != 0 || ioctl(fd, BLKGETSIZE64, &size) != 0) {
		r = VIGIL_E_SYSTEM;
		goto out;
	}
	limit = size < VIGIL_BOOT_SECTOR_BYTES ? (int64_t)size : VIGIL_BOOT_SECTOR_BYTES;
	/* Clean cached pages would hide a write that went around the page cache. */
	(void)posix_fadvise(fd, 0, limit, POSIX_FADV_DONTNEED);
	if ((r = vigil_digest_fd(fd, algo, limit, out, out_len)) != 0)
		goto out;
	/* What was read, not what was asked: a device that shrank reads short. */
	if ((pos = lseek(fd, 0, SEEK_CUR)) < 0) {
		r = VIGIL_E_SYSTEM;
		goto out;
	}
	if (bytes_read)
		*bytes_read = (int64_t)pos;
	r = 0;
out:
	err = errno;
	close(fd);
	errno = err;
	return r;
}
