/* SPDX-License-Identifier: Apache-2.0 */
/* Boot sector digests: which whole disks a machine has, and a digest of the first MiB of
 * each (MBR, GPT, the boot loader's embedded image), where a disk wiper strikes first.
 * Private to libvigil. */
#ifndef VIGIL_BOOTSECT_H
#define VIGIL_BOOTSECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/attr.h"
#include "vigil/vigil.h"

#define VIGIL_BOOT_SECTOR_BYTES (1024 * 1024) /* how much of a disk is digested */

/*
 * Every whole-disk block device, as "/dev/NAME" for each NAME in /sys/block, sorted
 * bytewise. Which ones and why:
 *  - sd*, vd*, xvd*, hd* (letters only), nvme<N>n<M>, mmcblk<N>: disks the firmware
 *    boots from. Not mmcblk<N>boot<M> nor mmcblk<N>rpmb (eMMC hardware partitions the
 *    firmware manages), nor nvme<N>c<C>n<M> (the per-path devices of NVMe multipath,
 *    which have no /dev node: sysfs "hidden" is 1).
 *  - loop<N> when attached (size > 0): disk images, and how the tests exercise this.
 *  - md<N> only when it holds a partition table (sysfs lists partitions under it): a
 *    partitioned array can carry a boot loader; an array holding a file system directly
 *    rewrites its superblock inside the first MiB on every mount, and its member disks
 *    are listed anyway.
 *  - never dm-* (LVM, dm-crypt, multipath maps: no firmware reads them, their first MiB
 *    is file-system or volume content that changes legitimately, and the disks beneath
 *    them are listed), ram*, zram*, sr*, fd*, nbd* or any other name.
 * A device of size 0 (a card reader without a card) or marked hidden is left out.
 * *out is a malloc'd array of *n malloc'd strings, NULL-terminated as well; free with
 * vigil_boot_devices_free (or each string and the array). Returns 0, VIGIL_E_SYSTEM if
 * /sys/block cannot be read (errno kept), VIGIL_E_NOMEM. On error *out is NULL, *n 0.
 */
int vigil_boot_devices(char ***out, size_t *n);

/* The same, reading `sys_block` instead of /sys/block (tests build a fake one). */
int vigil_boot_devices_at(const char *sys_block, char ***out, size_t *n);

/* Frees what vigil_boot_devices returned; accepts NULL. */
void vigil_boot_devices_free(char **devs, size_t n);

/* Whether a /sys/block name is one of the kinds above (by name alone; size, hidden and
 * partitions are checked by vigil_boot_devices_at). */
bool vigil_boot_name_is_disk(const char *name);

/*
 * Digests the first VIGIL_BOOT_SECTOR_BYTES of the block device dev_path (the whole
 * device if it is smaller) with algo into out (VIGIL_DIGEST_MAX bytes, meta.h), setting
 * *out_len, and *bytes_read (may be NULL) to the bytes digested.
 * Opened O_RDONLY|O_CLOEXEC|O_NOFOLLOW|O_NONBLOCK|O_NOCTTY: a symlink (/dev/disk/by-id/..)
 * is refused — resolve it first —, and a FIFO can neither block the open nor be read.
 * The device's cached pages of that range are dropped first (POSIX_FADV_DONTNEED), so
 * the digest is of what is on the device, even after a write that bypassed the page
 * cache (O_DIRECT, SG_IO) — which is how raw-disk wipers write.
 * Returns 0; VIGIL_E_INVALID if dev_path is not a block device (or algo is unknown);
 * VIGIL_E_SYSTEM (errno kept: ENOENT, EACCES, ELOOP for a symlink, ENOMEDIUM, EIO);
 * VIGIL_E_CRYPTO; VIGIL_E_NOMEM.
 */
int vigil_boot_sector_digest(const char *dev_path, vigil_hash_algo algo, uint8_t *out,
			     uint8_t *out_len, int64_t *bytes_read);

#endif
