/* SPDX-License-Identifier: Apache-2.0 */
/* The parts of the raw-disk guard of `vigil watch` (src/rawdisk.c) that tests reach: which
 * block devices are guarded, the allowlist of programs, the BPF device filter and the
 * reader of its ring buffer of refusals. Private to libvigil. */
#ifndef VIGIL_RAWDISK_H
#define VIGIL_RAWDISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Whether a kernel block device name (as in /sys/class/block) is a whole disk or a
 * partition the guard protects: sd*, vd*, xvd*, hd* (letters, then an optional partition
 * number), nvme<N>n<M>[p<P>], mmcblk<N>[p<P>|boot<B>], loop<N>[p<P>], dm-<N>, md<N>[p<P>].
 * Not zram*, ram*, nbd*, sr* (optical), fd* or the per-path nvme<N>c<C>n<M> devices.
 */
bool vigil_rawdisk_name_is_guarded(const char *name);

/* The built-in list of programs allowed to write to block devices (globs on the executable
 * path), NULL-terminated. */
extern const char *const vigil_rawdisk_builtin_allow[];

/* Whether a raw_device_allow entry can be used: an absolute path glob. */
bool vigil_rawdisk_glob_is_valid(const char *glob);

/* Whether exe (an absolute path with no symlinks, as /proc/PID/exe gives it) matches one of
 * the n globs (fnmatch(3) with FNM_PATHNAME: `*` never crosses a `/`). Invalid globs never
 * match. */
bool vigil_rawdisk_is_allowed(const char *const *globs, size_t n, const char *exe);

/* The key of a device in the filter's map of guarded devices: the kernel's MKDEV. */
#define VIGIL_RAWDISK_DEVKEY(major, minor) (((uint32_t)(major) << 20) | (uint32_t)(minor))

/* One refusal, as the filter writes it into its ring buffer. */
typedef struct vigil_rawdisk_record {
	uint32_t tgid, tid;
	uint32_t major, minor;
	uint32_t access; /* BPF_DEVCG_ACC_* << 16 | BPF_DEVCG_DEV_* */
	uint32_t uid;
	char comm[16]; /* the thread's name, NUL-padded (not always NUL-terminated) */
} vigil_rawdisk_record;

/*
 * Loads the device filter (a BPF_PROG_TYPE_CGROUP_DEVICE program): it refuses an open for
 * writing of a block device whose VIGIL_RAWDISK_DEVKEY is in the hash map guarded_fd
 * (u32 -> u8) unless the caller's thread group id is in allowed_fd (u32 -> u32), writing a
 * vigil_rawdisk_record into the ring buffer events_fd for each refusal — as long as
 * CLOCK_MONOTONIC is before the deadline (ns) in entry 0 of the array state_fd (u32 -> u64):
 * past it, everything is allowed. Everything else is allowed. Returns the program's fd, or
 * -1 with errno set (log, cap bytes, receives the verifier's words when it refuses the
 * program; may be NULL).
 */
int vigil_rawdisk_load_filter(int guarded_fd, int allowed_fd, int state_fd, int events_fd,
			      char *log, size_t cap);

/*
 * Walks the records of a BPF ring buffer between the consumer position cons and the
 * producer position prod. data is the data area (mapped twice in a row, so a record never
 * wraps), mask its size minus one. fn is called with each committed record that was not
 * discarded. Stops at a record still being written or a malformed one (a length beyond
 * the area). Returns the new consumer position.
 */
uint64_t vigil_rawdisk_ring_walk(const uint8_t *data, uint64_t mask, uint64_t cons, uint64_t prod,
				 void (*fn)(void *user, const void *rec, size_t len), void *user);

#endif
