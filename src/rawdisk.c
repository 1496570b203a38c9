/* SPDX-License-Identifier: Apache-2.0 */
/* The raw_device defense of `vigil watch`: refuses opens for writing of whole disks and
 * partitions by programs not on the allowlist, through a BPF device filter on the cgroup
 * tree, and alerts `kind: raw_device`. */

/*
 * Why not fanotify FAN_OPEN_PERM on the /dev nodes: fanotify reports nothing about special
 * files. fanotify_group_event_mask() (fs/notify/fanotify/fanotify.c) drops every event
 * whose object is neither a regular file nor a directory ("fanotify only gives a damn
 * about files and dirs"), so a permission mark on /dev/vda is accepted and never fires
 * (checked on Linux 6.18: no FAN_OPEN nor FAN_OPEN_PERM for block or character nodes).
 *
 * What the kernel does offer on every Debian kernel: the device cgroup check. Each open of
 * a block device node asks devcgroup_inode_permission() (fs/namei.c, inode_permission) and
 * bdev_permission() (block/bdev.c) whether the caller may read or write that device number,
 * and runs the BPF_PROG_TYPE_CGROUP_DEVICE programs attached to the caller's cgroup and its
 * ancestors. One attached to the root of the cgroup v2 tree sees every process, with the
 * open's real access (read, write) from the kernel itself, whatever system call or path
 * was used: open, openat2, io_uring, a node made with mknod anywhere, a container's /dev.
 * It is attached through a bpf_link, so it goes away with the last fd, when vigil exits or
 * is killed; and it fails open once vigil stops renewing a 5 s lease (a daemon stopped,
 * hung, or stuck in exit still holding the link — seen here when another fanotify
 * permission group deadlocked a dying vigil): a stalled daemon never locks the disks.
 *
 * The filter refuses a write to a guarded device unless the caller's thread group id is in
 * a map of allowed processes. That map is kept here: a process is allowed while it runs an
 * allowlisted program. The filter cannot see the program itself (a device program gets no
 * task), so this side watches the allowlisted executables with fanotify FAN_OPEN_EXEC
 * (regular files: reported) and adds each process that executes one, scans /proc for those
 * that already run, and drops each entry when its process exits (pidfd) or runs something
 * else (the periodic scan). See the man page for the windows this leaves.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <limits.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "ascii.h"
#include "defense.h"
#include "fan_event.h"
#include "json.h"
#include "rawdisk.h"
#include "vigil/vigil.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define MAX_GUARDED  4096        /* entries of the map of guarded devices */
#define MAX_ALLOWED  1024        /* processes allowed at once */
#define RING_BYTES   (64 * 1024) /* refusals waiting to be read: ~1300 records */
#define RESCAN_MS    2000        /* /proc scan for allowlisted processes not seen starting */
#define LEASE_MS     5000        /* the filter fails open this long after the thread last renewed */
#define RENEW_MS     1000
#define SEEN_SLOTS   32
#define SEEN_WINDOW  10000000 /* us: one alert per process and device in this time */
#define MAX_BIN_DIRS 16
#define DELETED_TAG  " (deleted)"

/*
 * How executions of allowlisted programs are seen. 0: FAN_OPEN_EXEC, a notification — the
 * program runs on while this thread adds it to the map, a race the thread wins by running
 * SCHED_FIFO (measured: no loss in ~1200 runs of dd, the fastest opener there is, on a
 * loaded 2-core machine), but a race: a lost one is a refusal whose alert says so. 1:
 * FAN_OPEN_EXEC_PERM — the exec waits until its process is in the map, no race; the cost is a
 * permission mark on each allowlisted program, so an exec of mkfs waits on vigil's answer (a
 * dedicated thread; if vigil dies its group closes and the kernel lets execs through).
 */
#ifndef RAWDISK_EXEC_PERM
#define RAWDISK_EXEC_PERM 0
#endif
#define EXEC_MASK (RAWDISK_EXEC_PERM ? FAN_OPEN_EXEC_PERM : FAN_OPEN_EXEC)

/* ---- the pure parts (src/rawdisk.h) ---- */

/* s starts with prefix, then one or more characters accepted by is; returns what follows,
 * or NULL. */
static const char *skip_run(const char *s, const char *prefix, bool (*is)(unsigned char))
{
	size_t n = strlen(prefix);
	const char *p;

	if (strncmp(s, prefix, n) != 0)
		return NULL;
	for (p = s + n; *p && is((unsigned char)*p); p++)
		;
	return p == s + n ? NULL : p;
}

/* "" or `sep` then a run of digits. */
static bool is_opt_suffix(const char *p, const char *sep)
{
	const char *q;

	if (*p == '\0')
		return true;
	q = skip_run(p, sep, ascii_is_digit);
	return q != NULL && *q == '\0';
}

bool vigil_rawdisk_name_is_guarded(const char *name)
{
	static const char *const lettered[] = {"sd", "vd", "xvd", "hd"};
	const char *p;

	if (name == NULL)
		return false;
	/* sda, sda1, vdb2, xvda, hdc3 (sdaa.. after sdz). */
	for (size_t i = 0; i < sizeof(lettered) / sizeof(*lettered); i++)
		if ((p = skip_run(name, lettered[i], ascii_is_lower)) != NULL)
			return is_opt_suffix(p, "");
	/* nvme0n1, nvme0n1p2; not nvme0c0n1 (a hidden per-path device of NVMe multipath). */
	if ((p = skip_run(name, "nvme", ascii_is_digit)) != NULL)
		return (p = skip_run(p, "n", ascii_is_digit)) != NULL && is_opt_suffix(p, "p");
	/* mmcblk0, mmcblk0p1, mmcblk0boot0 (eMMC boot areas: firmware lives there). */
	if ((p = skip_run(name, "mmcblk", ascii_is_digit)) != NULL)
		return is_opt_suffix(p, "p") || is_opt_suffix(p, "boot");
	if ((p = skip_run(name, "loop", ascii_is_digit)) != NULL)
		return is_opt_suffix(p, "p");
	if ((p = skip_run(name, "md", ascii_is_digit)) != NULL)
		return is_opt_suffix(p, "p");
	if ((p = skip_run(name, "dm-", ascii_is_digit)) != NULL)
		return *p == '\0';
	return false;
}

/* Every tool that writes to disks by design on a Debian server, in /usr/sbin and /usr/bin
 * (where /proc/PID/exe points on a merged /usr) and /sbin and /bin (where it points
 * without). A program not here is refused, however it is named: globs match the whole
 * path, so /tmp/mkfs.x is not mkfs. mount is here because the kernel checks a read-write
 * mount's device like an open for writing, in the mount(8) process. */
#define TOOL(x) "/usr/sbin/" x, "/sbin/" x, "/usr/bin/" x, "/bin/" x
const char *const vigil_rawdisk_builtin_allow[] = {
    /* file systems: make, check, tune, resize, label, mount, swap */
    TOOL("mkfs"), TOOL("mkfs.*"), TOOL("mke2fs"), TOOL("mkswap"), TOOL("mkdosfs"), TOOL("mkntfs"),
    TOOL("fsck"), TOOL("fsck.*"), TOOL("e2*"), TOOL("tune2fs"), TOOL("resize2fs"), TOOL("debugfs"),
    TOOL("dosfsck"), TOOL("dosfslabel"), TOOL("fatlabel"), TOOL("exfatlabel"), TOOL("tune.exfat"),
    TOOL("ntfs*"), TOOL("xfs_*"), TOOL("btrfs"), TOOL("btrfs-*"), TOOL("btrfstune"),
    TOOL("swaplabel"), TOOL("swapon"), TOOL("mount"), TOOL("mount.*"), TOOL("zpool"), TOOL("zfs"),
    TOOL("zed"),
    /* partition tables and boot loaders */
    TOOL("fdisk"), TOOL("sfdisk"), TOOL("cfdisk"), TOOL("parted"), TOOL("partprobe"), TOOL("partx"),
    TOOL("gdisk"), TOOL("sgdisk"), TOOL("cgdisk"), TOOL("fixparts"), TOOL("kpartx"),
    TOOL("grub-install"), TOOL("grub-bios-setup"), TOOL("grub-setup"),
    /* volumes, arrays, encryption, loop devices, discard */
    TOOL("lvm"), TOOL("dmsetup"), TOOL("dmeventd"), TOOL("cryptsetup"), TOOL("integritysetup"),
    TOOL("veritysetup"), TOOL("mdadm"), TOOL("mdmon"), TOOL("multipath"), TOOL("multipathd"),
    TOOL("losetup"), TOOL("wipefs"), TOOL("blkdiscard"), TOOL("blockdev"), TOOL("pdata_tools"),
    TOOL("systemd-repart"),
    /* systemd's helpers that format, grow and unlock devices at boot */
    "/usr/lib/systemd/systemd-udevd", "/lib/systemd/systemd-udevd",
    "/usr/lib/systemd/systemd-makefs", "/lib/systemd/systemd-makefs",
    "/usr/lib/systemd/systemd-growfs", "/lib/systemd/systemd-growfs",
    "/usr/lib/systemd/systemd-cryptsetup", "/lib/systemd/systemd-cryptsetup",
    "/usr/lib/systemd/systemd-veritysetup", "/lib/systemd/systemd-veritysetup",
    "/usr/lib/systemd/systemd-integritysetup", "/lib/systemd/systemd-integritysetup", NULL};
#undef TOOL

bool vigil_rawdisk_glob_is_valid(const char *glob)
{
	return glob != NULL && glob[0] == '/';
}

bool vigil_rawdisk_is_allowed(const char *const *globs, size_t n, const char *exe)
{
	if (exe == NULL || exe[0] != '/')
		return false;
	for (size_t i = 0; i < n; i++)
		if (vigil_rawdisk_glob_is_valid(globs[i]) &&
		    fnmatch(globs[i], exe, FNM_PATHNAME | FNM_PERIOD) == 0)
			return true;
	return false;
}

uint64_t vigil_rawdisk_ring_walk(const uint8_t *data, uint64_t mask, uint64_t cons, uint64_t prod,
				 void (*fn)(void *user, const void *rec, size_t len), void *user)
{
	/* The layout is the kernel's (kernel/bpf/ringbuf.c): an 8-byte header, whose first
	 * word is the length with the BUSY and DISCARD bits, then the record, padded to 8. */
	while (cons < prod) {
		const uint32_t *hdr = (const uint32_t *)(data + (cons & mask));
		uint32_t len = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
		uint64_t rec = len & ~(uint32_t)(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
		uint64_t total = (rec + BPF_RINGBUF_HDR_SZ + 7) & ~(uint64_t)7;

		if (len & BPF_RINGBUF_BUSY_BIT)
			break;
		if (total > mask + 1 || total > prod - cons)
			break;
		if (!(len & BPF_RINGBUF_DISCARD_BIT))
			fn(user, data + (cons & mask) + BPF_RINGBUF_HDR_SZ, (size_t)rec);
		cons += total;
	}
	return cons;
}

/* ---- the BPF device filter ---- */

static int sys_bpf(int cmd, union bpf_attr *attr)
{
	return (int)syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static int map_create(enum bpf_map_type type, uint32_t key, uint32_t value, uint32_t max,
		      const char *name)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_type = type;
	a.key_size = key;
	a.value_size = value;
	a.max_entries = max;
	snprintf(a.map_name, sizeof(a.map_name), "%s", name);
	return sys_bpf(BPF_MAP_CREATE, &a);
}

static int map_update(int fd, const void *key, const void *value)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)fd;
	a.key = (uint64_t)(uintptr_t)key;
	a.value = (uint64_t)(uintptr_t)value;
	a.flags = BPF_ANY;
	return sys_bpf(BPF_MAP_UPDATE_ELEM, &a);
}

static int map_delete(int fd, const void *key)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)fd;
	a.key = (uint64_t)(uintptr_t)key;
	return sys_bpf(BPF_MAP_DELETE_ELEM, &a);
}

#define INSN(c, d, s, o, i)                                                                        \
	((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})
#define MOV_REG(d, s)     INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV_IMM(d, i)     INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define ALU_IMM(op, d, i) INSN(BPF_ALU64 | (op) | BPF_K, d, 0, 0, i)
#define OR_REG(d, s)      INSN(BPF_ALU64 | BPF_OR | BPF_X, d, s, 0, 0)
#define LDX_W(d, s, o)    INSN(BPF_LDX | BPF_MEM | BPF_W, d, s, o, 0)
#define LDX_DW(d, s, o)   INSN(BPF_LDX | BPF_MEM | BPF_DW, d, s, o, 0)
#define JMP_REG(op, d, s) INSN(BPF_JMP | (op) | BPF_X, d, s, 0, 0) /* off patched */
#define STX_W(d, s, o)    INSN(BPF_STX | BPF_MEM | BPF_W, d, s, o, 0)
#define JMP_IMM(op, d, i) INSN(BPF_JMP | (op) | BPF_K, d, 0, 0, i) /* off patched */
#define CALL(f)           INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define EXIT()            INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define LD_MAP(d, fd)                                                                              \
	INSN(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, fd), INSN(0, 0, 0, 0, 0)

int vigil_rawdisk_load_filter(int guarded_fd, int allowed_fd, int state_fd, int events_fd,
			      char *log, size_t cap)
{
	enum { R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 };
	/* The record sits at fp-56 (40 bytes: six words, then comm at fp-32); the map keys at
	 * fp-4 (device), fp-8 (tgid) and fp-12 (the state's index, 0). Jumps marked `J` go to the
	 * last two instructions, which allow the access. */
	struct bpf_insn p[] = {
	    MOV_REG(R6, R1),
	    LDX_W(R2, R6, 0), /* access_type */
	    MOV_REG(R3, R2),
	    ALU_IMM(BPF_AND, R3, 0xffff),
	    JMP_IMM(BPF_JNE, R3, BPF_DEVCG_DEV_BLOCK), /* J: not a block device */
	    ALU_IMM(BPF_RSH, R2, 16),
	    ALU_IMM(BPF_AND, R2, BPF_DEVCG_ACC_WRITE),
	    JMP_IMM(BPF_JEQ, R2, 0), /* J: not a write */
	    LDX_W(R2, R6, 4),        /* major */
	    ALU_IMM(BPF_LSH, R2, 20),
	    LDX_W(R3, R6, 8), /* minor */
	    OR_REG(R2, R3),
	    STX_W(R10, R2, -4),
	    LD_MAP(R1, guarded_fd),
	    MOV_REG(R2, R10),
	    ALU_IMM(BPF_ADD, R2, -4),
	    CALL(BPF_FUNC_map_lookup_elem),
	    JMP_IMM(BPF_JEQ, R0, 0), /* J: not a guarded device */
	    /* Fail open when vigil stopped renewing its deadline (hung, stopped, or stuck in
	     * exit holding the link): a stalled daemon must not lock every disk. */
	    MOV_IMM(R1, 0),
	    STX_W(R10, R1, -12),
	    LD_MAP(R1, state_fd),
	    MOV_REG(R2, R10),
	    ALU_IMM(BPF_ADD, R2, -12),
	    CALL(BPF_FUNC_map_lookup_elem),
	    JMP_IMM(BPF_JEQ, R0, 0), /* J */
	    LDX_DW(R8, R0, 0),
	    CALL(BPF_FUNC_ktime_get_ns),
	    JMP_REG(BPF_JGT, R0, R8), /* J: past the deadline */
	    CALL(BPF_FUNC_get_current_pid_tgid),
	    MOV_REG(R7, R0),
	    MOV_REG(R1, R0),
	    ALU_IMM(BPF_RSH, R1, 32),
	    STX_W(R10, R1, -8),
	    LD_MAP(R1, allowed_fd),
	    MOV_REG(R2, R10),
	    ALU_IMM(BPF_ADD, R2, -8),
	    CALL(BPF_FUNC_map_lookup_elem),
	    JMP_IMM(BPF_JNE, R0, 0), /* J: an allowed process */
	    /* Refused: tell user space (dropped if the ring is full: still refused). */
	    MOV_REG(R1, R7),
	    ALU_IMM(BPF_RSH, R1, 32),
	    STX_W(R10, R1, -56), /* tgid */
	    STX_W(R10, R7, -52), /* tid: the low word */
	    LDX_W(R1, R6, 4),
	    STX_W(R10, R1, -48),
	    LDX_W(R1, R6, 8),
	    STX_W(R10, R1, -44),
	    LDX_W(R1, R6, 0),
	    STX_W(R10, R1, -40),
	    CALL(BPF_FUNC_get_current_uid_gid),
	    STX_W(R10, R0, -36), /* uid: the low word */
	    MOV_REG(R1, R10),
	    ALU_IMM(BPF_ADD, R1, -32),
	    MOV_IMM(R2, 16),
	    CALL(BPF_FUNC_get_current_comm),
	    LD_MAP(R1, events_fd),
	    MOV_REG(R2, R10),
	    ALU_IMM(BPF_ADD, R2, -56),
	    MOV_IMM(R3, (int32_t)sizeof(vigil_rawdisk_record)),
	    MOV_IMM(R4, 0),
	    CALL(BPF_FUNC_ringbuf_output),
	    MOV_IMM(R0, 0), /* refuse: EPERM */
	    EXIT(),
	    MOV_IMM(R0, 1), /* allow */
	    EXIT(),
	};
	const int n = (int)(sizeof(p) / sizeof(*p)), allow = n - 2;
	union bpf_attr a;
	int fd;

	_Static_assert(sizeof(vigil_rawdisk_record) == 40, "the record the program writes");
	for (int i = 0; i < n; i++)
		if (BPF_CLASS(p[i].code) == BPF_JMP && BPF_OP(p[i].code) != BPF_CALL &&
		    BPF_OP(p[i].code) != BPF_EXIT)
			p[i].off = (int16_t)(allow - (i + 1));
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	a.expected_attach_type = BPF_CGROUP_DEVICE;
	a.insns = (uint64_t)(uintptr_t)p;
	a.insn_cnt = (uint32_t)n;
	/* No GPL-only helper is called, so no GPL declaration is needed. */
	a.license = (uint64_t)(uintptr_t) "Apache-2.0";
	snprintf(a.prog_name, sizeof(a.prog_name), "vigil_rawdisk");
	if ((fd = sys_bpf(BPF_PROG_LOAD, &a)) >= 0 || log == NULL || cap < 2)
		return fd;
	a.log_level = 1;
	a.log_buf = (uint64_t)(uintptr_t)log;
	a.log_size = (uint32_t)(cap > UINT32_MAX ? UINT32_MAX : cap);
	log[0] = '\0';
	if ((fd = sys_bpf(BPF_PROG_LOAD, &a)) < 0) {
		int e = errno;

		log[cap - 1] = '\0';
		errno = e;
	}
	return fd;
}

/* ---- the guard ---- */

typedef struct tracked {
	int tgid;      /* 0: free slot */
	int pidfd;     /* readable when the process exits; -1 for vigil itself */
	int64_t since; /* when it was allowed (us) */
} tracked;

typedef struct seen {
	uint32_t tgid, dev;
	int64_t time_us;
	unsigned repeats; /* alerts held back since the last one sent */
} seen;

typedef struct guard {
	vigil_watch *w;
	int guarded, allowed, state, events, prog, link; /* BPF maps, program, link */
	int fan;                                         /* FAN_OPEN_EXEC on allowlisted programs */
	int ino;                                         /* /dev and the programs' directories */
	int dev_wd;
	int bin_wd[MAX_BIN_DIRS];
	char *bin_dir[MAX_BIN_DIRS];
	size_t nbin;
	int ep, stopfd;
	uint8_t *ring_cons; /* the consumer page (ours to write) */
	uint8_t *ring_prod; /* the producer page, then the data area twice */
	size_t page;
	char **allow;
	size_t nallow;
	size_t nguarded, nprograms;
	tracked procs[MAX_ALLOWED];
	seen seen[SEEN_SLOTS];
	pthread_t thread;
	bool thread_started;
} guard;

/* epoll tags: small numbers are the sources below, larger ones a tracked slot + TAG_PROC. */
enum { TAG_STOP = 1, TAG_RING, TAG_FAN, TAG_INO, TAG_PROC = 16 };

static int ep_add(guard *g, int fd, uint64_t tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};

	return epoll_ctl(g->ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Reads a small sysfs file into buf (NUL-terminated); false on error. */
static bool read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

/* Adds every guarded device of /sys/class/block to the filter's map. Adding one already
 * there changes nothing, so this runs again whenever /dev gains a node. */
static void scan_devices(guard *g)
{
	DIR *d = opendir("/sys/class/block");
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char path[PATH_MAX], buf[32];
		unsigned ma, mi;
		uint32_t key;
		uint8_t one = 1;

		if (!vigil_rawdisk_name_is_guarded(de->d_name))
			continue;
		snprintf(path, sizeof(path), "/sys/class/block/%s/dev", de->d_name);
		if (!read_small(path, buf, sizeof(buf)) || sscanf(buf, "%u:%u", &ma, &mi) != 2)
			continue;
		key = VIGIL_RAWDISK_DEVKEY(ma, mi);
		if (map_update(g->guarded, &key, &one) == 0)
			n++;
	}
	closedir(d);
	if (n > g->nguarded)
		g->nguarded = n;
}

/* The program a process runs, without the " (deleted)" the kernel adds when its file was
 * replaced (a package upgrade under a running daemon). False if it cannot be read. */
static bool proc_exe(int pid, char *out, size_t cap)
{
	char path[64];
	ssize_t n;
	size_t tl = strlen(DELETED_TAG);

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	if ((n = readlink(path, out, cap - 1)) <= 0)
		return false;
	out[n] = '\0';
	if ((size_t)n > tl && strcmp(out + n - tl, DELETED_TAG) == 0)
		out[n - tl] = '\0';
	return true;
}

static bool exe_allowed(const guard *g, const char *exe)
{
	return vigil_rawdisk_is_allowed((const char *const *)g->allow, g->nallow, exe);
}

static tracked *find_proc(guard *g, int tgid)
{
	for (size_t i = 0; i < MAX_ALLOWED; i++)
		if (g->procs[i].tgid == tgid)
			return &g->procs[i];
	return NULL;
}

/* Lets process tgid write to disks until it exits or runs a program not on the list. */
static void allow_proc(guard *g, int tgid, bool self)
{
	tracked *t;
	uint32_t key = (uint32_t)tgid, one = 1;
	int pidfd = -1;

	if (tgid <= 0 || find_proc(g, tgid) != NULL || (t = find_proc(g, 0)) == NULL)
		return;
	/* The pidfd says when it exits, so its pid is never left allowed for a newcomer. */
	if (!self && (pidfd = (int)syscall(SYS_pidfd_open, tgid, 0)) < 0)
		return; /* gone already */
	if (map_update(g->allowed, &key, &one) != 0 ||
	    (pidfd >= 0 && ep_add(g, pidfd, TAG_PROC + (uint64_t)(t - g->procs)) != 0)) {
		(void)map_delete(g->allowed, &key);
		if (pidfd >= 0)
			close(pidfd);
		return;
	}
	t->tgid = tgid;
	t->pidfd = pidfd;
	t->since = vigil_alert_now_us();
}

static void disallow_proc(guard *g, tracked *t)
{
	uint32_t key = (uint32_t)t->tgid;

	(void)map_delete(g->allowed, &key);
	if (t->pidfd >= 0) {
		(void)epoll_ctl(g->ep, EPOLL_CTL_DEL, t->pidfd, NULL);
		close(t->pidfd);
	}
	t->tgid = 0;
	t->pidfd = -1;
}

/* Every running process whose program is on the list is allowed (daemons started before
 * vigil, children an allowed program forked); one that now runs another program, or whose
 * exec of an allowed one failed after the open, is dropped. */
static void scan_procs(guard *g)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	char exe[PATH_MAX];

	for (size_t i = 0; i < MAX_ALLOWED; i++) {
		tracked *t = &g->procs[i];

		/* One allowed a moment ago may still be in its exec (exe is the old program). */
		if (t->tgid > 0 && t->pidfd >= 0 && vigil_alert_now_us() - t->since > 1000000 &&
		    (!proc_exe(t->tgid, exe, sizeof(exe)) || !exe_allowed(g, exe)))
			disallow_proc(g, t);
	}
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end != '\0' || pid <= 0 || pid > INT_MAX || find_proc(g, (int)pid) != NULL)
			continue;
		if (proc_exe((int)pid, exe, sizeof(exe)) && exe_allowed(g, exe))
			allow_proc(g, (int)pid, false);
	}
	closedir(d);
}

/* Watches one allowlisted program for executions. */
static void mark_program(guard *g, const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111))
		return;
	if (fanotify_mark(g->fan, FAN_MARK_ADD, EXEC_MASK, AT_FDCWD, path) == 0)
		g->nprograms++;
}

/* The directory part of a glob when it has no wildcard, for inotify. */
static bool glob_dir(const char *glob, char *out, size_t cap)
{
	const char *slash = strrchr(glob, '/');
	size_t n;

	if (slash == NULL || slash == glob)
		return false;
	n = (size_t)(slash - glob);
	if (n >= cap || memchr(glob, '*', n) || memchr(glob, '?', n) || memchr(glob, '[', n))
		return false;
	memcpy(out, glob, n);
	out[n] = '\0';
	return true;
}

static void mark_programs(guard *g)
{
	for (size_t i = 0; i < g->nallow; i++) {
		glob_t gl;
		char dir[PATH_MAX];

		if (glob(g->allow[i], GLOB_NOSORT, NULL, &gl) == 0) {
			for (size_t j = 0; j < gl.gl_pathc; j++)
				mark_program(g, gl.gl_pathv[j]);
			globfree(&gl);
		}
		/* Programs installed later (dpkg renames *.dpkg-new into place) are watched
		 * when they appear. */
		if (g->nbin < MAX_BIN_DIRS && glob_dir(g->allow[i], dir, sizeof(dir))) {
			int wd = inotify_add_watch(
			    g->ino, dir, IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_ONLYDIR);
			bool known = false;

			for (size_t k = 0; k < g->nbin; k++)
				known |= g->bin_wd[k] == wd;
			if (wd >= 0 && !known && (g->bin_dir[g->nbin] = strdup(dir)) != NULL)
				g->bin_wd[g->nbin++] = wd;
		}
	}
}

static void on_inotify(guard *g)
{
	union {
		struct inotify_event ev;
		char b[8192];
	} u;
	bool devices = false;

	for (;;) {
		ssize_t n = read(g->ino, u.b, sizeof(u.b));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (char *p = u.b; p < u.b + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;

			p += sizeof(*e) + e->len;
			if ((e->mask & IN_Q_OVERFLOW) || e->wd == g->dev_wd) {
				devices = true;
				continue;
			}
			for (size_t i = 0; i < g->nbin; i++)
				if (e->wd == g->bin_wd[i] && e->len > 0) {
					char path[PATH_MAX];

					if (snprintf(path, sizeof(path), "%s/%s", g->bin_dir[i],
						     e->name) < (int)sizeof(path) &&
					    exe_allowed(g, path))
						mark_program(g, path);
				}
		}
	}
	/* A node in /dev: a device was added (losetup, LVM, a partition table re-read,
	 * hot-plug). Its number goes into the map now; until then it is not guarded. */
	if (devices)
		scan_devices(g);
}

/* Only allowlisted programs are marked: the process executing one is allowed from now on
 * (the scan drops it if the exec failed). Executions are never refused: the walker's
 * FAN_ALLOW only says "go on now". */
static void on_exec(void *user, fan_event *ev)
{
	if (ev->mask & (FAN_OPEN_EXEC | FAN_OPEN_EXEC_PERM))
		allow_proc(user, ev->pid, false);
}

static void on_fanotify(guard *g)
{
	union {
		struct fanotify_event_metadata m;
		char b[4096];
	} u;

	(void)fan_events_read(g->fan, u.b, sizeof(u.b), 64, on_exec, g, NULL);
}

/* What an alert says about one refusal. */
typedef struct refusal {
	const vigil_rawdisk_record *r;
	char comm[17];
	char device[64];
	unsigned repeats;
} refusal;

static void write_extra(FILE *f, void *user)
{
	const refusal *x = user;

	fputs(",\"device\":", f);
	vigil_json_string(f, x->device, strlen(x->device));
	fprintf(f, ",\"dev\":\"%u:%u\",\"access\":\"write\",\"tid\":%u,\"uid\":%u,\"comm\":",
		x->r->major, x->r->minor, x->r->tid, x->r->uid);
	vigil_json_string(f, x->comm, strlen(x->comm));
	fprintf(f, ",\"repeats\":%u", x->repeats);
}

/* True if an alert about (tgid, device) is due: the first in SEEN_WINDOW. A program
 * retrying in a loop is refused every time but alerted once per window, the next alert
 * saying how many were held back. */
static bool alert_due(guard *g, uint32_t tgid, uint32_t dev, unsigned *repeats)
{
	int64_t now = vigil_alert_now_us();
	seen *oldest = &g->seen[0];

	*repeats = 0;
	for (size_t i = 0; i < SEEN_SLOTS; i++) {
		seen *s = &g->seen[i];

		if (s->time_us != 0 && s->tgid == tgid && s->dev == dev) {
			if (now - s->time_us < SEEN_WINDOW) {
				s->repeats++;
				return false;
			}
			*repeats = s->repeats;
			s->repeats = 0;
			s->time_us = now;
			return true;
		}
		if (s->time_us < oldest->time_us)
			oldest = s;
	}
	*oldest = (seen){.tgid = tgid, .dev = dev, .time_us = now};
	return true;
}

static void on_refusal(void *user, const void *rec, size_t len)
{
	guard *g = user;
	vigil_rawdisk_record r;
	refusal x = {.r = &r};
	vigil_proc *p = NULL;
	char path[PATH_MAX + 8], sys[64], target[PATH_MAX], reason[PATH_MAX + 1024];
	const char *base;
	ssize_t n;
	bool late = false;

	if (len < sizeof(r))
		return;
	memcpy(&r, rec, sizeof(r));
	memcpy(x.comm, r.comm, sizeof(r.comm));
	x.comm[sizeof(r.comm)] = '\0';
	if (!alert_due(g, r.tgid, VIGIL_RAWDISK_DEVKEY(r.major, r.minor), &x.repeats))
		return;
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u", r.major, r.minor);
	if ((n = readlink(sys, target, sizeof(target) - 1)) > 0) {
		target[n] = '\0';
		base = strrchr(target, '/');
		snprintf(x.device, sizeof(x.device), "%.63s", base ? base + 1 : target);
	} else {
		snprintf(x.device, sizeof(x.device), "%u:%u", r.major, r.minor);
	}
	snprintf(path, sizeof(path), "/dev/%s", x.device);
	/* The open has failed already, and the process may be gone (dd exits at once): its
	 * name comes from the filter then. A pid read here whose name differs from the one the
	 * filter saw was reused: not reported as the process. */
	if (vigil_proc_read((int)r.tgid, -1, false, &p) != 0)
		p = NULL;
	if (p != NULL && p->state == VIGIL_PROC_ALIVE && p->comm[0] &&
	    strncmp(p->comm, x.comm, 15) != 0) {
		vigil_proc_unref(p);
		p = vigil_proc_new_bare((int)r.tgid, VIGIL_PROC_EXITED);
	}
	if (p != NULL && p->comm[0] == '\0')
		snprintf(p->comm, sizeof(p->comm), "%s", x.comm);
	/* An allowlisted program refused: it wrote before its start was seen (the exec
	 * event had not been read yet), or it was forked by one without an exec. */
	if (p != NULL && p->state == VIGIL_PROC_ALIVE && p->exe && !p->exe_deleted &&
	    exe_allowed(g, p->exe)) {
		late = true;
		allow_proc(g, (int)r.tgid, false);
	}
	snprintf(reason, sizeof(reason),
		 "%s (pid %u%s%s) was refused opening the block device %s for writing: %s.", x.comm,
		 r.tgid, p && p->exe ? ", " : "", p && p->exe ? p->exe : "", path,
		 late ? "its program is on the raw-device allowlist but vigil had not yet seen it "
			"start; it is allowed from now on"
		      : "its program is not on the raw-device allowlist");
	vigil_alert a = {.kind = "raw_device",
			 .severity = VIGIL_SEV_CRITICAL,
			 .path = path,
			 .path_len = strlen(path),
			 .has_process = true,
			 .proc = p,
			 .action = "denied",
			 .reason = reason,
			 .extra = write_extra,
			 .extra_user = &x};

	(void)vigil_watch_emit(g->w, &a);
	vigil_proc_unref(p);
}

static void on_ring(guard *g)
{
	uint64_t *consp = (uint64_t *)g->ring_cons;
	const uint64_t *prodp = (const uint64_t *)g->ring_prod;
	uint64_t cons = __atomic_load_n(consp, __ATOMIC_ACQUIRE);
	uint64_t prod = __atomic_load_n(prodp, __ATOMIC_ACQUIRE);

	cons = vigil_rawdisk_ring_walk(g->ring_prod + g->page, RING_BYTES - 1, cons, prod,
				       on_refusal, g);
	__atomic_store_n(consp, cons, __ATOMIC_RELEASE);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sets the filter's deadline: it refuses until then (0: from now on it allows all). */
static void set_deadline(guard *g, int64_t ms)
{
	uint32_t key = 0;
	uint64_t ns = ms > 0 ? (uint64_t)ms * 1000000 : 0;

	(void)map_update(g->state, &key, &ns);
}

/*
 * The guard runs on a thread of its own, not in the watcher's event loop: an allowlisted
 * program's exec must be seen before it opens its disk (a few hundred microseconds), and
 * the loop can be busy with a burst of events or waiting for its check thread. This thread
 * only reads /proc and /sys, updates BPF maps and sends alerts (vigil_watch_emit never
 * blocks).
 */
static void *guard_main(void *arg)
{
	guard *g = arg;
	int64_t next_scan = vigil_alert_now_us() + RESCAN_MS * 1000, renewed = mono_ms();

	(void)pthread_setname_np(pthread_self(), "vigil-rawdisk"); /* top -H, perf */
	for (;;) {
		struct epoll_event evs[16];
		int64_t now = vigil_alert_now_us();
		int wait = next_scan > now ? (int)((next_scan - now) / 1000) + 1 : 0;

		/* The lease: renewed while this thread runs, so a hung vigil fails open. */
		if (mono_ms() - renewed >= RENEW_MS) {
			renewed = mono_ms();
			set_deadline(g, renewed + LEASE_MS);
		}
		if (wait > RENEW_MS)
			wait = RENEW_MS;
		int n = epoll_wait(g->ep, evs, 16, wait);
		bool stop = false;

		if (n < 0 && errno != EINTR)
			break;
		/* Executions first, so a refusal read in the same round knows of them. */
		for (int i = 0; i < n; i++)
			if (evs[i].data.u64 == TAG_FAN)
				on_fanotify(g);
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;

			if (tag == TAG_STOP)
				stop = true;
			else if (tag == TAG_RING)
				on_ring(g);
			else if (tag == TAG_INO)
				on_inotify(g);
			else if (tag >= TAG_PROC && tag < TAG_PROC + MAX_ALLOWED &&
				 g->procs[tag - TAG_PROC].tgid > 0)
				disallow_proc(g, &g->procs[tag - TAG_PROC]); /* it exited */
		}
		if (stop)
			break;
		if (vigil_alert_now_us() >= next_scan) {
			scan_procs(g);
			next_scan = vigil_alert_now_us() + RESCAN_MS * 1000;
		}
	}
	return NULL;
}

/*
 * The thread races each allowlisted program from its exec to its open of the disk (dd:
 * a few hundred microseconds), so it runs SCHED_FIFO at the lowest real-time priority:
 * woken by the exec event, it runs before the program goes on. It never spins (it waits in
 * epoll_wait and does bounded work per event), and the kernel's real-time throttling
 * bounds it anyway. Without the privilege it runs as an ordinary thread.
 */
static int start_thread(guard *g)
{
	pthread_attr_t at;
	struct sched_param sp = {.sched_priority = 1};
	int r = -1;

	if (pthread_attr_init(&at) == 0) {
		if (pthread_attr_setinheritsched(&at, PTHREAD_EXPLICIT_SCHED) == 0 &&
		    pthread_attr_setschedpolicy(&at, SCHED_FIFO) == 0 &&
		    pthread_attr_setschedparam(&at, &sp) == 0)
			r = pthread_create(&g->thread, &at, guard_main, g);
		pthread_attr_destroy(&at);
	}
	if (r != 0)
		r = pthread_create(&g->thread, NULL, guard_main, g);
	g->thread_started = r == 0;
	return r;
}

static void guard_free(guard *g)
{
	if (g == NULL)
		return;
	/* The filter goes first: from here on every write is allowed again. */
	if (g->state >= 0)
		set_deadline(g, 0);
	if (g->link >= 0)
		close(g->link);
	if (g->thread_started) {
		uint64_t one = 1;

		(void)!write(g->stopfd, &one, sizeof(one));
		pthread_join(g->thread, NULL);
		/* Refusals not read yet are still alerted (the outputs close after this). */
		on_ring(g);
	}
	for (size_t i = 0; i < MAX_ALLOWED; i++)
		if (g->procs[i].pidfd >= 0)
			close(g->procs[i].pidfd);
	if (g->ring_cons)
		munmap(g->ring_cons, g->page);
	if (g->ring_prod)
		munmap(g->ring_prod, g->page + 2 * (size_t)RING_BYTES);
	for (size_t i = 0; i < g->nbin; i++)
		free(g->bin_dir[i]);
	int fds[] = {g->prog, g->guarded, g->allowed, g->state, g->events,
		     g->fan,  g->ino,     g->ep,      g->stopfd};

	for (size_t i = 0; i < sizeof(fds) / sizeof(*fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	for (size_t i = 0; i < g->nallow; i++)
		free(g->allow[i]);
	free(g->allow);
	free(g);
}

/* Copies the allowlist: the options', else the built-in one; entries that are not absolute
 * path globs are dropped and counted in *bad (the first named in first_bad). */
static int copy_allow(guard *g, const vigil_watch_options *o, size_t *bad, char *first_bad,
		      size_t cap)
{
	const char *const *src = o->raw_device_allow;
	size_t n = o->nraw_device_allow;

	if (src == NULL) {
		src = vigil_rawdisk_builtin_allow;
		for (n = 0; src[n] != NULL; n++)
			;
	}
	if ((g->allow = calloc(n + 1, sizeof(*g->allow))) == NULL)
		return VIGIL_E_NOMEM;
	*bad = 0;
	for (size_t i = 0; i < n; i++) {
		if (!vigil_rawdisk_glob_is_valid(src[i])) {
			if ((*bad)++ == 0)
				snprintf(first_bad, cap, "%s", src[i] ? src[i] : "");
			continue;
		}
		if ((g->allow[g->nallow] = strdup(src[i])) == NULL)
			return VIGIL_E_NOMEM;
		g->nallow++;
	}
	return 0;
}

/* The root of the cgroup v2 tree as this process sees it (mountinfo: fstype cgroup2 and
 * root "/"): a filter attached there covers every process in it. */
static int open_cgroup_root(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	int fd = -1;

	if (f == NULL)
		return -1;
	while (fd < 0 && fgets(line, sizeof(line), f)) {
		char root[PATH_MAX], mnt[PATH_MAX], *sep = strstr(line, " - ");
		char fstype[64];

		if (sep == NULL || sscanf(sep, " - %63s", fstype) != 1 ||
		    strcmp(fstype, "cgroup2") != 0 ||
		    sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2 ||
		    strcmp(root, "/") != 0)
			continue;
		fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	fclose(f);
	if (fd < 0)
		errno = ENOENT;
	return fd;
}

/* Maps, ring buffer and program (not attached yet). */
static int make_filter(guard *g, char *status, size_t cap)
{
	char log[2048] = "";
	int rc = VIGIL_E_SYSTEM;

	if ((g->guarded = map_create(BPF_MAP_TYPE_HASH, 4, 1, MAX_GUARDED, "vigil_guarded")) < 0 ||
	    (g->allowed = map_create(BPF_MAP_TYPE_HASH, 4, 4, MAX_ALLOWED, "vigil_allowed")) < 0 ||
	    (g->state = map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 1, "vigil_state")) < 0 ||
	    (g->events = map_create(BPF_MAP_TYPE_RINGBUF, 0, 0, RING_BYTES, "vigil_refused")) < 0) {
		snprintf(status, cap, "off: BPF maps: %s", strerror(errno));
		goto out;
	}
	g->ring_cons = mmap(NULL, g->page, PROT_READ | PROT_WRITE, MAP_SHARED, g->events, 0);
	g->ring_prod = mmap(NULL, g->page + 2 * (size_t)RING_BYTES, PROT_READ, MAP_SHARED,
			    g->events, (off_t)g->page);
	if (g->ring_cons == MAP_FAILED || g->ring_prod == MAP_FAILED) {
		snprintf(status, cap, "off: BPF ring buffer: %s", strerror(errno));
		if (g->ring_cons == MAP_FAILED)
			g->ring_cons = NULL;
		if (g->ring_prod == MAP_FAILED)
			g->ring_prod = NULL;
		goto out;
	}
	if ((g->prog = vigil_rawdisk_load_filter(g->guarded, g->allowed, g->state, g->events, log,
						 sizeof(log))) < 0) {
		snprintf(status, cap, "off: BPF device filter refused: %s", strerror(errno));
		goto out;
	}
	if (ep_add(g, g->events, TAG_RING) != 0) {
		snprintf(status, cap, "off: epoll: %s", strerror(errno));
		goto out;
	}
	scan_devices(g);
	rc = 0;
out:
	return rc;
}

/* Attaches the filter: it is live when this returns 0. */
static int link_filter(guard *g, char *status, size_t cap)
{
	union bpf_attr a;
	int cg, rc = VIGIL_E_SYSTEM;

	if ((cg = open_cgroup_root()) < 0) {
		snprintf(status, cap, "off: no cgroup v2 tree to attach the device filter to");
		goto out;
	}
	memset(&a, 0, sizeof(a));
	a.link_create.prog_fd = (uint32_t)g->prog;
	a.link_create.target_fd = (uint32_t)cg;
	a.link_create.attach_type = BPF_CGROUP_DEVICE;
	if ((g->link = sys_bpf(BPF_LINK_CREATE, &a)) < 0) {
		snprintf(status, cap, "off: cannot attach the BPF device filter: %s",
			 strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (cg >= 0)
		close(cg);
	return rc;
}

static int attach(vigil_watch *w, void **state, char *status, size_t cap)
{
	const vigil_watch_options *o = vigil_watch_get_options(w);
	char bad1[64] = "";
	size_t bad = 0;
	guard *g = NULL;
	int rc;

	*state = NULL;
	if (o->raw_device_guard == 0) {
		snprintf(status, cap,
			 "off: turned off (--no-raw-device-guard or raw_devices = off)");
		return 0;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		snprintf(status, cap, "off: out of memory");
		return VIGIL_E_NOMEM;
	}
	g->w = w;
	g->guarded = g->allowed = g->state = g->events = g->prog = g->link = -1;
	g->fan = g->ino = g->ep = g->stopfd = g->dev_wd = -1;
	g->page = (size_t)sysconf(_SC_PAGESIZE);
	for (size_t i = 0; i < MAX_ALLOWED; i++)
		g->procs[i] = (tracked){0, -1, 0};
	if ((rc = copy_allow(g, o, &bad, bad1, sizeof(bad1))) != 0) {
		snprintf(status, cap, "off: out of memory");
		goto out;
	}
	rc = VIGIL_E_SYSTEM;
	if ((g->ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (g->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
	    ep_add(g, g->stopfd, TAG_STOP) != 0) {
		snprintf(status, cap, "off: %s", strerror(errno));
		goto out;
	}
	/* Executions of allowlisted programs. */
	if ((g->fan = fanotify_init((RAWDISK_EXEC_PERM ? FAN_CLASS_CONTENT : FAN_CLASS_NOTIF) |
					FAN_CLOEXEC | FAN_NONBLOCK,
				    O_RDONLY | O_CLOEXEC | O_LARGEFILE)) < 0 ||
	    ep_add(g, g->fan, TAG_FAN) != 0) {
		snprintf(status, cap, "off: fanotify: %s", strerror(errno));
		goto out;
	}
	if ((g->ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) < 0 ||
	    ep_add(g, g->ino, TAG_INO) != 0) {
		snprintf(status, cap, "off: inotify: %s", strerror(errno));
		goto out;
	}
	g->dev_wd = inotify_add_watch(g->ino, "/dev", IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
	if ((rc = make_filter(g, status, cap)) != 0)
		goto out;
	mark_programs(g);
	/* Before the filter is live: vigil itself (it writes to no disk, but must never be
	 * refused) and the allowlisted programs running now. */
	allow_proc(g, (int)getpid(), true);
	scan_procs(g);
	set_deadline(g, mono_ms() + LEASE_MS);
	/* The thread first, so executions are followed from the moment the filter is live. */
	if (start_thread(g) != 0) {
		snprintf(status, cap, "off: cannot start its thread");
		rc = VIGIL_E_SYSTEM;
		goto out;
	}
	if ((rc = link_filter(g, status, cap)) != 0)
		goto out;
	{
		int n = snprintf(status, cap,
				 "on: %zu block devices guarded (BPF device filter), %zu programs "
				 "allowed",
				 g->nguarded, g->nprograms);

		if (n > 0 && (size_t)n < cap && bad > 0)
			snprintf(status + n, cap - (size_t)n,
				 "; %zu raw_device_allow entries ignored (not absolute: '%s')", bad,
				 bad1);
	}
	*state = g;
	g = NULL; /* transferred */
	rc = 0;
out:
	guard_free(g);
	return rc;
}

static void detach(void *state)
{
	guard_free(state);
}

const defense_ops defense_raw_device = {"raw_device", attach, detach};
