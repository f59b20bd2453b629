/* SPDX-License-Identifier: MIT */
/*
 * Benchmark-only stand-in for /dev/kshm (built into libkshm-standin.so,
 * never into libkshm.so): the region is a shared memfd with a header and
 * control page like the driver's, and each LOCK/UNLOCK costs real syscalls
 * of the driver's weight (ioctl FIONREAD on a pipe, KSHM_STANDIN_WEIGHT of
 * them per call on average: the bench measures the driver's LOCK+UNLOCK
 * against a FIONREAD pair in a guest and passes the ratio; 1 when unset)
 * before it updates the control page the way the driver would (lock word,
 * seqcount, generation).
 *
 * Paths: "standin:PAGES" is a private region (one opener; it measures the
 * library's own cost). "standin:PAGES:NAME" is shared by every process that
 * opens the same NAME (POSIX shm "/kshm-standin-NAME", created by the first
 * opener), with the driver's contended path at host speed:
 *  - a FIFO queue of LOCK waiters (tickets in the control page after struct
 *    kshm_ctrl), WAITERS set in the word while anyone queues so fast
 *    acquirers cannot barge, and UNLOCK handing the lock straight to the
 *    head waiter (futex wake on the lock word);
 *  - commit wake-ups: a named FIFO "/tmp/kshm-standin-NAME.fifo" is the fd
 *    to poll (kshm_layout's fd); a commit (UNLOCK, or WAKE after a fast
 *    commit: ctrl->pollers is set on a shared region) writes a byte to it,
 *    and a read (kshm_consume) drains it, as poll()/read() work on the driver.
 *    One reader process at a time: a drained byte is gone for the others.
 * A stand-in wait cannot be cancelled (the benchmarks never cancel one).
 */
#include "standin-device.h"
#include "standin-weight.h"
#include <sys/stat.h>
#include <sys/syscall.h>

static int standin_pipe[2] = { -1, -1 };

static void standin_syscall(void)
{
	if (standin_pipe[0] < 0 && pipe(standin_pipe))
		return;
	standin_weighted_ioctl(standin_pipe[0]);
}

/* Per open: its lock-word id and the fd to poll (-1: none). */
static struct standin_open {
	struct kshm *k;
	uint32_t id;
	int fifo;
} standin_opens[256];
static unsigned int standin_count;

static struct standin_open *standin_of(struct kshm *k)
{
	for (unsigned int i = 0; i < standin_count && i < 256; i++)
		if (standin_opens[i].k == k)
			return &standin_opens[i];
	return NULL;
}

static uint32_t standin_id(struct kshm *k)
{
	struct standin_open *o = standin_of(k);

	return o ? o->id : 1;
}

/* kshm_layout's fd: the named FIFO of a shared region; -1 for a private one (nothing to poll). */
static int standin_poll_fd(struct kshm *k)
{
	struct standin_open *o = standin_of(k);

	return o && o->fifo >= 0 ? o->fifo : -1;
}

static int dev_open(const char *path, int flags, struct kshm *k)
{
	long ps = sysconf(_SC_PAGESIZE);
	unsigned int pages = 1, slot;
	const char *name = NULL;
	struct kshm_header *h;
	struct stat st;
	char buf[128];
	int fd, fifo = -1;

	if (path && strncmp(path, "standin:", 8) == 0) {
		pages = (unsigned int)atoi(path + 8);
		name = strchr(path + 8, ':');
		if (name)
			name++;
	}
	if (pages < 1 || pages > KSHM_MAX_PAGES)
		pages = 1;
	if (name && *name) {
		snprintf(buf, sizeof(buf), "/kshm-standin-%s", name);
		fd = shm_open(buf, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0 || fstat(fd, &st))
			return -1;
		if (st.st_size == 0 && ftruncate(fd, (off_t)(pages + 2) * ps))
			return -1;
		snprintf(buf, sizeof(buf), "/tmp/kshm-standin-%s.fifo", name);
		if (mkfifo(buf, 0600) && errno != EEXIST)
			return -1;
		fifo = open(buf, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (fifo < 0)
			return -1;
	} else {
		fd = (int)syscall(SYS_memfd_create, "kshm-standin", 0);
		if (fd < 0 || ftruncate(fd, (off_t)(pages + 2) * ps))
			return -1;
	}
	h = mmap(NULL, (size_t)ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		return -1;
	if (h->magic != KSHM_MAGIC) {
		h->abi_version = KSHM_ABI_VERSION;
		h->page_size = (uint32_t)ps;
		h->pages = pages;
		h->data_offset = (uint64_t)ps;
		h->data_size = (uint64_t)pages * ps;
		h->ctrl_offset = (uint64_t)(pages + 1) * ps;
		h->features = KSHM_FEAT_LOCKWORD;
		h->tick_offset = (uint32_t)(h->data_size - sizeof(struct kshm_tick));
		__atomic_store_n(&h->magic, KSHM_MAGIC, __ATOMIC_RELEASE);
	}
	k->whdr = h;
	slot = __atomic_fetch_add(&standin_count, 1, __ATOMIC_RELAXED);
	if (slot < 256) {
		standin_opens[slot].k = k;
		/* Distinct per open and process, as the driver's are; never the kernel's id. */
		standin_opens[slot].id = fifo < 0 ? 1 : ((((uint32_t)getpid() << 8) | slot) % 0x3ffffff0U) + 1;
		standin_opens[slot].fifo = fifo;
	}
	/*
	 * Shared: fast commits must WAKE, as when the driver's poll() set this
	 * (anybody may poll the FIFO; nothing here can tell when they stop).
	 */
	(void)flags;
	if (fifo >= 0) {
		struct kshm_ctrl *c = mmap(NULL, (size_t)ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
					   (off_t)h->ctrl_offset);

		if (c == MAP_FAILED)
			return -1;
		__atomic_store_n(&c->pollers, 1, __ATOMIC_SEQ_CST);
		munmap(c, (size_t)ps);
	}
	return fd;
}

static void standin_wake(struct kshm *k)
{
	struct standin_open *o = standin_of(k);
	char one = 1;

	if (o && o->fifo >= 0 && write(o->fifo, &one, 1) < 0 && errno != EAGAIN)
		return;
}

/* The driver's slow path, with its FIFO queue (see above). */
static int dev_ioctl(struct kshm *k, unsigned long cmd, void *arg)
{
	struct kshm_ctrl *c = k->ctrl;
	uint32_t id = standin_id(k);

	standin_syscall();
	switch (cmd) {
	case KSHM_IOC_LOCK:
		return standin_lock(c, id, arg);
	case KSHM_IOC_UNLOCK: {
		uint32_t flags = ((struct kshm_unlock_req *)arg)->flags;

		if (standin_unlock(c, id, flags))
			return -1;
		if (flags & KSHM_UNLOCK_COMMIT)
			standin_wake(k);
		return 0;
	}
	case KSHM_IOC_INFO:
		memset(arg, 0, sizeof(struct kshm_info));
		((struct kshm_info *)arg)->abi_version = KSHM_ABI_VERSION;
		((struct kshm_info *)arg)->pages = k->whdr->pages;
		((struct kshm_info *)arg)->page_size = k->whdr->page_size;
		((struct kshm_info *)arg)->features = KSHM_FEAT_LOCKWORD;
		((struct kshm_info *)arg)->file_id = id;
		if (c) {
			((struct kshm_info *)arg)->generation = c->generation;
			((struct kshm_info *)arg)->lock_word = c->lock;
			((struct kshm_info *)arg)->waiters = STANDIN_QUEUE(c)->next - STANDIN_QUEUE(c)->serving;
			((struct kshm_info *)arg)->locks_contended =
				__atomic_load_n(&STANDIN_QUEUE(c)->contended, __ATOMIC_RELAXED);
		}
		return 0;
	case KSHM_IOC_WAKE:
		standin_wake(k);
		return 0;
	case KSHM_IOC_CANCEL:
		return 0;
	default:
		errno = ENOTTY;
		return -1;
	}
}

/* The driver's read(): the generation, once per commit wake-up (drains the FIFO). */
static ssize_t dev_read(struct kshm *k, void *buf, size_t len)
{
	struct standin_open *o = standin_of(k);
	char drain[256];
	uint64_t g;

	if (!o || o->fifo < 0 || len < sizeof(g) || read(o->fifo, drain, sizeof(drain)) <= 0) {
		errno = EAGAIN;
		return -1;
	}
	while (read(o->fifo, drain, sizeof(drain)) > 0)
		;
	g = __atomic_load_n(&k->ctrl->generation, __ATOMIC_ACQUIRE);
	memcpy(buf, &g, sizeof(g));
	return sizeof(g);
}
