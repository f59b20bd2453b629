/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kshm: pages shared between the kernel and user space, guarded by a lock
 * that the kernel owns. This header is the ABI: the driver, libkshm and the
 * tests all include it. Every struct has a fixed size and the same layout
 * for 32- and 64-bit callers (only __u32/__s32/__u64 fields, 8-byte aligned).
 *
 * MAPPING (byte offsets into a region's device, /dev/kshm or
 * /dev/kshm/NAME: see REGIONS; all page-aligned)
 *
 *   0                 header page: struct kshm_header, read-only to users.
 *                     A writable mapping of it is refused, and it can never
 *                     be made writable later (no VM_MAYWRITE).
 *   data_offset       hdr->pages data pages (hdr->data_size bytes) that the
 *                     kernel and every opener share. data_offset is one
 *                     page: the data follows the header.
 *   ctrl_offset       the control page (struct kshm_ctrl): the lock word,
 *                     the reader seqcount and the generation. Writable by
 *                     openers with write access (MAP_SHARED), read-only to
 *                     the others. It follows the data: (1 + pages) pages.
 *
 * The mapping must be MAP_SHARED to be writable; mappings never grow. A
 * writable mapping (MAP_SHARED or MAP_PRIVATE) that includes the header page
 * or any ring page (see EVENTS) fails with EACCES; a writable MAP_PRIVATE
 * mapping of data and control pages only fails with EINVAL. A mapping that
 * reaches past the device's last page (the control page, or the ring's last
 * page when there is a ring) fails with EINVAL (an offset of 2^63 or more,
 * negative as an off_t, may fail with EOVERFLOW instead: mmap() itself
 * refuses it before the driver sees it).
 * Nothing is executable: PROT_EXEC fails with EACCES (EPERM when /dev is
 * mounted noexec), and mprotect() can never add it later (no VM_MAYEXEC).
 *
 * THE LOCK
 *
 * One lock guards the data. It belongs to a lock-word id or to the kernel
 * (KSHM_LW_KERNEL); ctrl->lock holds the holder. Ids are per (open file,
 * process): each process has its own id for each writable open file, which
 * KSHM_IOC_INFO's file_id returns when that process calls it. The opener's
 * id exists from open(); another process sharing the open file (a forked
 * child, a receiver of the descriptor) gets its own at its first INFO or
 * LOCK. Threads of a process share its id. A read-only open file has no id
 * (file_id 0). So a forked child must call KSHM_IOC_INFO before it takes
 * the lock on the fast path: its parent's id is not its own.
 *
 * An id is valid while its process keeps a descriptor of the file. When the
 * process closes its last one (close, exit, exec with O_CLOEXEC, or a
 * SIGKILL), its id is retired: a lock it holds is passed on with
 * KSHM_LW_DIED, and its blocked KSHM_IOC_LOCK and KSHM_IOC_KWRITE calls on
 * that file return ECANCELED. No close, exit or UNLOCK by another process
 * (its parent or child included) releases a lock held by an id that is still
 * valid. Retired ids are not reissued soon (they are allocated cyclically).
 *
 * The lock is taken in one of two ways:
 *
 * - Slow path: KSHM_IOC_LOCK blocks until the lock is granted, in FIFO order
 *   (no barging; exactly one waiter is woken per hand-off).
 * - Fast path (futex-like, no syscall when uncontended):
 *	acquire: CAS(ctrl->lock, 0 -> id), or CAS(KSHM_LW_DIED -> id|DIED) (the
 *	         previous holder died); then make ctrl->seq odd (seq | 1).
 *	         Any other value: the lock is taken or has waiters: use the slow
 *	         path, which queues behind the waiters.
 *	release: on commit, ctrl->generation += 1; then ctrl->seq = (seq | 1) + 1
 *	         (even: readers may copy); then CAS(lock, id[|DIED] -> 0) on
 *	         commit (a commit repairs OWNER_DIED) or -> lock & DIED on abort.
 *	         If that CAS fails, KSHM_LW_WAITERS is set: call KSHM_IOC_UNLOCK
 *	         with KSHM_UNLOCK_PUBLISHED and the kernel hands the lock to the
 *	         longest waiter. After a commit that needed no UNLOCK, call
 *	         KSHM_IOC_WAKE if ctrl->pollers is non-zero (a full barrier between
 *	         the generation store and the pollers load).
 *
 * A lock is released the way it was taken: a lock granted by KSHM_IOC_LOCK is
 * released by KSHM_IOC_UNLOCK (without KSHM_UNLOCK_PUBLISHED: the kernel then
 * advances the generation and ends the seqcount write section itself).
 * KSHM_IOC_UNLOCK releases only a lock held by the caller's own id (EPERM,
 * nothing changed, otherwise).
 *
 * The generation announces every change of the data: a commit advances it,
 * and a holder that aborts must first restore every byte it wrote (the data
 * is then exactly as last committed). Readers may take an unchanged
 * generation for unchanged data (pollers are woken only by a new one); a
 * holder that aborts without restoring, or a writer that ignores the lock,
 * leaves a change that no generation announces.
 *
 * When its holder's id is retired (see above), the driver frees the lock with
 * KSHM_LW_DIED set and hands it on: the next holder is told
 * KSHM_LOCK_OWNER_DIED (the data may be half-written) until a user commit.
 * With nobody queued the word then reads KSHM_LW_DIED alone: free, and taken
 * on the fast path with CAS(KSHM_LW_DIED -> id|KSHM_LW_DIED).
 *
 * STAGING (readers never wait for a holder's own work)
 *
 * A holder may stage instead of writing in place: it holds the lock with
 * ctrl->seq even, so readers keep copying the last committed data, writes
 * into a private buffer of its own, and opens the write section only to
 * publish. Taking the lock staged:
 *
 * - Fast path: the same CAS as above, without making seq odd (if seq is odd,
 *   left so by a user who broke the rules, the holder makes it even: seq + 1).
 * - Slow path: KSHM_IOC_LOCK with KSHM_LOCK_STAGED in kshm_lock_req.flags.
 *   The grant leaves seq even (an odd seq is made even, seq + 1), with or
 *   without KSHM_LOCK_TRY.
 *
 * Any holder (either path, staged or not) may also turn staged while it
 * holds the lock: once the data is back exactly at the last committed state
 * (the holder restored what it wrote), it makes seq even (a write barrier,
 * then seq + 1, as a release does).
 *
 * A staged holder never writes the data except in a publish:
 *
 *	seq = seq | 1 (a store), then a write barrier;
 *	copy the bytes that changed from its buffer into the data;
 *	ctrl->generation += 1;
 *	a write barrier, then seq = seq + 1 (even);
 *
 * and then releases as a commit, the way it took the lock: the fast path's
 * CAS(lock, id[|DIED] -> 0) (KSHM_IOC_UNLOCK with KSHM_UNLOCK_COMMIT |
 * KSHM_UNLOCK_PUBLISHED if the CAS fails on WAITERS; KSHM_IOC_WAKE if
 * pollers is set), or KSHM_IOC_UNLOCK with KSHM_UNLOCK_COMMIT |
 * KSHM_UNLOCK_PUBLISHED for a slow-path grant. A slow-path holder may
 * instead make seq odd, copy, and call KSHM_IOC_UNLOCK with
 * KSHM_UNLOCK_COMMIT alone: the kernel then advances the generation and
 * makes seq even, as for any slow-path commit. Nothing else is published.
 *
 * Abort: release without touching the data, seq or the generation: the fast
 * path's CAS(lock, id[|DIED] -> lock & DIED) (KSHM_IOC_UNLOCK with
 * KSHM_UNLOCK_ABORT | KSHM_UNLOCK_PUBLISHED if it fails on WAITERS), or
 * KSHM_IOC_UNLOCK with KSHM_UNLOCK_ABORT for a slow-path grant. The kernel's
 * ABORT never advances the generation and changes seq only when it is odd,
 * so readers see no change at all (a poller is not woken).
 *
 * Whatever a staged holder does, the kernel stays correct: a holder whose id
 * is retired is passed on with KSHM_LW_DIED exactly as above, and every
 * release by the kernel (UNLOCK, a dead holder, a reclaimed word) makes an
 * odd seq even. KSHM_LOCK_OWNER_DIED is reported to the next holder as for
 * any holder; with staging it means: the data is intact (the last committed
 * state) unless the holder died during its publish, when it may be
 * half-published. A staged holder that forges seq or the generation harms
 * only readers' retries, as any user writing the control page can.
 *
 * THE WORD IS UNTRUSTED
 *
 * The control page is writable by every writer, so the driver treats every
 * value in it as untrusted input: whatever a user writes there, the kernel
 * neither crashes, spins nor waits without a limit, and:
 *
 * - A word whose owner field names nobody who can hold the lock (an id that
 *   is not valid: never issued, retired, or its process is gone; or
 *   KSHM_LW_KERNEL while the kernel does not hold the lock) is reclaimed:
 *   passed on with KSHM_LW_DIED, as if its holder had died, so the next
 *   holder gets KSHM_LOCK_OWNER_DIED. Any KSHM_IOC_LOCK (KSHM_LOCK_TRY
 *   included), KSHM_IOC_KWRITE or tick that finds such a word reclaims it
 *   at once; while anyone is queued, the kernel rechecks the word every
 *   KSHM_LW_RECHECK_MS (and reclaims it, hands a free word to the queue's
 *   head, or restores a lost KSHM_LW_WAITERS). So a forged word delays a
 *   queued waiter by at most KSHM_LW_RECHECK_MS plus scheduling latency.
 *   kshm_info.lock_reclaims counts these.
 * - A forged word that names a valid id cannot be told from that id holding
 *   the lock: it lasts until that process unlocks (KSHM_IOC_UNLOCK works;
 *   KSHM_IOC_LOCK returns EDEADLK to it) or closes the file. Cooperating
 *   users time out meanwhile. A user who overwrites the word while someone
 *   holds the lock breaks that holder's exclusion, as scribbling on the
 *   data would; the kernel's own bookkeeping stays consistent. A holder
 *   that stores 0 (or any free word) over its own hold while others are
 *   queued loses the lock: the queue's head is granted (within
 *   KSHM_LW_RECHECK_MS), and the old holder's KSHM_IOC_UNLOCK fails with
 *   EPERM.
 * - A word whose owner field is 0 is free whatever its other bits: with
 *   nobody queued, KSHM_IOC_LOCK (KSHM_LOCK_TRY included) takes it at once,
 *   with KSHM_LOCK_OWNER_DIED when KSHM_LW_DIED is set; with waiters queued,
 *   the queue's head gets it within KSHM_LW_RECHECK_MS. The fast path's
 *   acquire takes only the exact values 0 and KSHM_LW_DIED.
 * - While the kernel holds the lock (KSHM_IOC_KWRITE, a tick, an in-kernel
 *   holder), the kernel goes by its own record, not the word: a word
 *   overwritten meanwhile grants nobody through the driver (KSHM_IOC_LOCK
 *   and kernel parties queue, KSHM_LOCK_TRY gets EBUSY; a word naming the
 *   caller's own id gets EDEADLK, as at any time), and the kernel
 *   puts KSHM_LW_KERNEL | KSHM_LW_WAITERS back into a free word or one
 *   naming nobody who can hold the lock (a compare-and-exchange; a word a
 *   live user took meanwhile stays theirs); its release still commits (the
 *   generation advances), ends the write section (seq even) and succeeds.
 *   A user whose valid id was written into the word during the kernel's
 *   hold and who then calls KSHM_IOC_UNLOCK (it succeeds) or closes the
 *   file ends only its own hold: the kernel's word comes back, nobody is
 *   granted and no KSHM_LW_DIED is set.
 * - The kernel changes the word only with a compare-and-exchange from a value
 *   it has just checked: it never overwrites a value that a user CAS wrote
 *   in between, and it grants a waiter only the word it has verified.
 *
 * WAITING
 *
 * Every wait has an end. KSHM_IOC_LOCK and KSHM_IOC_KWRITE wait for the lock
 * until granted, their timeout_ms (0: no limit), KSHM_IOC_CANCEL on their
 * open file, their process closing that file (see above), or a signal. A
 * queued waiter is woken only by its grant, a cancel, a signal or its
 * deadline: nothing polls. Kernel parties (KWRITE, the ticker, in-kernel
 * users, which always give a timeout) queue in the same FIFO as users, and
 * none waits behind another beyond its own limit. The ticker waits at most
 * min(tick_ms, 100) ms per tick and skips the tick otherwise; writing tick_ms
 * never waits for a lock holder.
 *
 * Signals: a LOCK or KWRITE wait interrupted by a signal that runs no
 * handler (SIGSTOP/SIGCONT, ptrace, the freezer) or a handler installed with
 * SA_RESTART is restarted transparently; it fails with EINTR only when a
 * handler without SA_RESTART ran. Before it returns for a signal, a wait
 * with a timeout stores the time left in the request's timeout_ms (at least
 * 1), as select() does, and the restart (or the same request passed again
 * after EINTR) waits for that rest: the time spent waiting never adds up to
 * more than timeout_ms. Time spent stopped (SIGSTOP, a ptrace stop, the
 * freezer) or running a handler is not waiting and does not count: a wait
 * of T ms stopped for S ms ends about T + S ms after it began. A restarted
 * call queues again at the end of the FIFO.
 *
 * Request structs: LOCK, UNLOCK and KWRITE check that their whole struct is
 * writable before they do anything: EFAULT means nothing happened. Once
 * UNLOCK or KWRITE has acted it returns success (if the caller makes the
 * struct unwritable meanwhile, the out-fields are simply not filled); a LOCK
 * that cannot report its grant gives the lock back and fails with EFAULT.
 *
 * Pids: kshm_info.holder_pid (and sysfs's holder_pid) is the holder's
 * process id as the calling process's pid namespace sees it; 0 when the lock
 * is free, held by the kernel, or the holder is not visible from there.
 * struct kshm_header.holder_pid is always 0 (one page cannot show every
 * namespace its own view).
 *
 * READER PROTOCOL (consistent snapshots without a syscall)
 *
 * ctrl->seq is odd while a holder may write and even otherwise. A reader:
 *
 *	for (;;) {
 *		s = __atomic_load_n(&ctrl->seq, __ATOMIC_ACQUIRE);
 *		if (s & 1)
 *			continue;	(a writer is in: retry, yield, or give up: EAGAIN)
 *		copy the data (and ctrl->generation) it needs;
 *		__atomic_thread_fence(__ATOMIC_ACQUIRE);    (smp_rmb)
 *		if (__atomic_load_n(&ctrl->seq, __ATOMIC_RELAXED) == s)
 *			break;		(the copy is consistent)
 *	}
 *
 * Holders make seq odd with a store followed by a write barrier before they
 * write, and even again after a write barrier once done (for the slow path
 * the kernel does both). seq is odd only while the data is being written:
 * a staged holder (see STAGING) keeps it even for the whole hold but its
 * publish, so a reader copies the last committed state while the lock is
 * held, and a publish is atomic to readers (they see all of it or none).
 * Users who ignore the lock can still scribble on the data pages; the kernel
 * never trusts what the data pages contain.
 *
 * CHANGE NOTIFICATION
 *
 * poll()/select()/epoll report EPOLLIN when ctrl->generation has advanced
 * since this open file last read it; a new open file counts the generation
 * at open() as seen, so it is readable only after the next commit. read()
 * of exactly 8 bytes returns the current generation (__u64) and marks it
 * seen; it blocks until a commit unless O_NONBLOCK (EAGAIN); any other size
 * is EINVAL. A poller sets ctrl->pollers before it checks the generation, so
 * that fast-path committers know to call KSHM_IOC_WAKE; the wake clears it.
 * pollers may still be set after poll() returned (its last pass sets it
 * again): the next fast commit then makes one WAKE that wakes nobody.
 *
 * ctrl->generation is in the user-writable control page: the kernel adds 1
 * per commit to the value the page holds (wrapping at 2^64), but any writer
 * can overwrite it, so a reader must not rely on it against a hostile writer
 * (the kernel never does).
 *
 * SYSFS AND PARAMETERS
 *
 * /sys/class/misc/kshm/stats/NAME (kshm!REGION/stats/NAME for a named
 * region, see REGIONS) holds one value each, NAME being a field of
 * struct kshm_info: abi_version pages flags generation holder_pid waiters
 * tick_ms locks_granted locks_contended lock_timeouts lock_cancels
 * owner_died lock_reclaims commits aborts kernel_writes ticks ticks_skipped
 * events event_wakeups (KSHM_IOC_INFO returns them all at once). Module parameters: pages
 * (1-KSHM_MAX_PAGES, at load only) and tick_ms
 * (/sys/module/kshm/parameters/tick_ms, 0-3600000, 0: off; writable at any
 * time: another value fails with EINVAL, one beyond 32 bits with ERANGE, and
 * the old value stays) sets the default region's ticker; regions (at load
 * only) creates named regions (see REGIONS).
 *
 * REGIONS
 *
 * kshm shares one or more regions. Each has its own device node, pages,
 * lock, lock-word ids, waiters, ticker, counters and generation, and the
 * whole ABI of this header; nothing one region does delays another.
 *
 * - The default region is created at load (module parameters pages and
 *   tick_ms). Its name is KSHM_DEFAULT_REGION_NAME.
 * - A named region is created by another kernel module
 *   (kshm_region_create(), include/linux/kshm.h) or at load by the module
 *   parameter regions=NAME:PAGES[:KEY=VALUE...][,...], e.g.
 *   regions=sensors:4:ring=64,audio:16:tick_ms=10 (keys: tick_ms, the
 *   region's ticker period; ring, the records of its event ring, see
 *   EVENTS; an unknown key, a bad name, page count or ring size, or a
 *   duplicate fails the load, with a line in the kernel log). Names are 1 to
 *   KSHM_REGION_NAME_MAX characters of [a-z0-9_-] starting with a letter or
 *   digit; "default" is the default region's and never a named one's.
 *
 * Device nodes. A path cannot be both a device and a directory, so:
 *
 * - While no named region exists, the default region is KSHM_DEVICE_PATH
 *   ("/dev/kshm"), a character device, as before regions existed.
 * - While at least one named region exists, "/dev/kshm" is a directory:
 *   region NAME is KSHM_REGION_DIR NAME ("/dev/kshm/NAME") and the default
 *   region is KSHM_DEFAULT_REGION_ALT ("/dev/kshm/default").
 *
 * The default region's node moves when the first named region appears and
 * when the last one goes (its device is registered again, under another
 * name of node and another minor number); its open files and mappings are
 * not affected. An open() racing with a move can fail with ENOENT or ENODEV.
 * To open the default region whatever exists: open KSHM_DEVICE_PATH; on
 * EISDIR (or, for an O_RDONLY open(), which succeeds on a directory, when
 * fstat() says S_ISDIR), open KSHM_DEFAULT_REGION_ALT instead. libkshm's
 * kshm_open(NULL) does this. KSHM_REGION_DIR NAME while "/dev/kshm" is the
 * default region's device fails with ENOTDIR.
 *
 * sysfs. The misc device of the default region is "kshm", region NAME's
 * "kshm/NAME", which sysfs spells kshm!NAME: its directory is
 * KSHM_SYSFS_DIR "kshm" or KSHM_SYSFS_DIR "kshm!NAME". In it:
 *
 *	region/name	the region's name ("default" for the default region)
 *	region/pages	its data pages
 *	region/tick_ms	its ticker period in ms, 0: off (0-3600000, writable
 *			at any time: another value fails with EINVAL, one
 *			beyond 32 bits with ERANGE; for the default region
 *			the same as the tick_ms parameter)
 *	stats/...	its struct kshm_info fields (SYSFS AND PARAMETERS)
 *
 * Listing /sys/class/misc/ for "kshm" and "kshm!*" lists every region.
 *
 * Lifetime. A named region is destroyed by its creator with
 * kshm_region_destroy() (typically as its module unloads) whether or not
 * users have it open or mapped; those of regions= live until kshm unloads,
 * which needs them unused. Its node and sysfs directory go at once. Then, for every open file
 * of it: each ioctl, read() and mmap() fails with ENODEV, poll() reports
 * EPOLLERR | EPOLLHUP (so pollers wake), blocked KSHM_IOC_LOCK,
 * KSHM_IOC_KWRITE and read() calls return ENODEV at once, and existing
 * mappings stay valid memory (the last contents, still writable where they
 * were) until unmapped; the pages are freed when the last file and mapping
 * go. At the destroy the kernel sets KSHM_LW_WAITERS in the lock word (a
 * compare-and-exchange, as always) and never clears it again, so the fast
 * path's acquire (the CAS from 0 or KSHM_LW_DIED) and release (the CAS to
 * free) fail and send the caller to KSHM_IOC_LOCK or KSHM_IOC_UNLOCK: ENODEV.
 * Beyond that the lock word in such a mapping no longer means anything. A user who
 * sees ENODEV closes the file; a new region of the same name is a new
 * region.
 *
 * EVENTS (KSHM_FEAT_RING: a lossless-or-counted record stream)
 *
 * A region may carry a ring of records: module parameter ring=N for the
 * default region, the key ring=N in regions= (or kshm_region_opts.ring of
 * kshm_region_create()) for a named one; each region's ring is its own.
 * hdr->features then has KSHM_FEAT_RING and hdr->ring_offset, ring_size,
 * ring_records and ring_slot_size say where it is; without a ring they are
 * 0. The ring follows the control page (ring_offset = ctrl_offset +
 * page_size) and is ring_size bytes: one page holding struct kshm_ring_hdr,
 * then ring_records slots of ring_slot_size bytes (struct kshm_event, at
 * ring_offset + hdr.slots_offset + (seq % ring_records) * ring_slot_size).
 * ring_size = page_size + ring_records * ring_slot_size rounded up to a
 * multiple of page_size (a ring of 1 to page_size / ring_slot_size records
 * has one slot page); the bytes past the last slot read 0. A slot never
 * written yet holds all zeroes, seq 0 included: only pos < head (below) says
 * that a slot holds a record.
 * ring_records is a power of two (1 to KSHM_RING_MAX_RECORDS);
 * slots_offset is page_size; reserved fields are 0. The whole ring is
 * read-only to every user (read-only openers may map it too): a writable
 * mapping of any of its pages, alone or with other pages, fails with EACCES
 * and mprotect() can never make it writable; PROT_EXEC fails as everywhere.
 * The ring lives as long as its region: its records outlive their readers
 * and producers, and a new open file sees the same seq numbers. Ring pages
 * can be passed to vmsplice(), process_vm_readv() and the like as any
 * read-only page: a pipe may keep a page referenced after munmap() and even
 * after the module is unloaded (the page is freed with the pipe's buffer);
 * it then holds a stale copy, and the kernel never reads it back.
 *
 * Records are numbered from 0 (seq, contiguous per ring: never a gap, never
 * a duplicate). ring_hdr->head is the number of records published so far:
 * records 0 .. head - 1 were written, and the ring holds the last
 * ring_records of them. When it is full the oldest record is overwritten:
 * the kernel never waits for a reader. Producers: kernel code through the
 * in-kernel API (kshm_emit(), from any context but NMI: hardirq included,
 * never sleeping, several CPUs at once) and users through KSHM_IOC_EMIT.
 * Each record has a type (any __u32; 0 is as good as any), its time
 * (CLOCK_MONOTONIC ns, taken in publication order: never less than the
 * previous record's), KSHM_EV_USER in flags when a user emitted it through
 * KSHM_IOC_EMIT (kernel producers cannot be impersonated), and 0 to
 * KSHM_EV_MAX_DATA bytes; bytes of data[] past len are 0.
 *
 * The kernel publishes record s as: slot->seq = KSHM_EV_BUSY; write barrier;
 * the fields and data; write barrier; slot->seq = s (release); then
 * ring_hdr->head = s + 1 (release). A slot's seq only ever grows (BUSY
 * aside), and all 64-bit words are written with single stores (rings exist
 * only on 64-bit kernels; a 32-bit reader must load them atomically).
 *
 * READING (no syscall per record; exact loss accounting)
 *
 * Each reader keeps its own position pos (the seq it wants next): 0 for the
 * oldest record ever, head for "from now", or max(head, N) - N (N =
 * ring_records) for the oldest still held. Then:
 *
 *	h = __atomic_load_n(&ring_hdr->head, __ATOMIC_ACQUIRE);
 *	if (pos >= h)
 *		nothing new: wait (below);
 *	if (h - pos > N) {			(overwritten already)
 *		lost += h - N - pos; pos = h - N;
 *	}
 *	slot = slots + (pos & (N - 1)) * ring_slot_size;
 *	if (__atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE) != pos)
 *		goto overrun;
 *	copy time_ns, type, len, flags, data[0 .. min(len, KSHM_EV_MAX_DATA)];
 *	__atomic_thread_fence(__ATOMIC_ACQUIRE);		(smp_rmb)
 *	if (__atomic_load_n(&slot->seq, __ATOMIC_RELAXED) != pos)
 *		goto overrun;
 *	deliver the copy with lost (records lost just before it); lost = 0;
 *	pos++;
 *	...
 *   overrun:	(record pos was overwritten before or while it was copied)
 *	h = __atomic_load_n(&ring_hdr->head, __ATOMIC_ACQUIRE);
 *	skip = max(pos + 1, h > N ? h - N : 0) - pos; lost += skip; pos += skip;
 *
 * Record pos is published before head passes it, so once pos < head a slot
 * that does not hold exactly pos (a greater seq, or KSHM_EV_BUSY) means the
 * record was overwritten; and every record below head - N is overwritten
 * too. So lost counts exactly the records the reader never saw, and a copy
 * whose seq matched before and after is the record, untorn. len is at most
 * KSHM_EV_MAX_DATA in a record that passed the check. The oldest record held
 * (h - N) is the next one a producer overwrites: a reader may resume further
 * on after an overrun to get clear of the producers (libkshm resumes at
 * h - N + N / 16), counting what it skips in lost; either way the next
 * record delivered has seq == previous seq + 1 + lost, exactly.
 *
 * WAITING FOR RECORDS
 *
 * Records never make an open file readable by themselves. An open file
 * becomes an events reader with KSHM_IOC_EVENTS, which stores its position
 * (the seq it waits for) in the open file description (shared by dup() and
 * fork(), like the file offset: independent readers open the device each)
 * and returns head. Each call sets the position and the mode afresh. From then on
 * poll()/select()/epoll report EPOLLPRI | EPOLLRDBAND on it while head > that
 * position (a record it has not read, or an overrun), and, when the last
 * KSHM_IOC_EVENTS had KSHM_EVENTS_POLLIN, EPOLLIN | EPOLLRDNORM for the same
 * condition instead of for generation changes (for event loops that only
 * wait for readability: such a file no longer reports commits). read()
 * keeps returning the generation. A reader reads records from the mapping
 * until pos == head, then passes pos to KSHM_IOC_EVENTS (one syscall per
 * batch) and polls if the returned head equals pos. The kernel wakes the
 * ring's pollers only when one waits: every poll pass (of poll(), select()
 * or epoll, ready or not) sets a ring-wide flag before it looks at head; a
 * producer checks the flag after it publishes (full barriers on both sides)
 * and defers the wake-up to an irq_work (so producers in hardirq never take
 * a sleeping lock). The wake-up takes the flag, then wakes the ring's wait
 * queue if anyone is on it: a poll() or select() that is waiting on a ring
 * reader (it leaves the queue when it returns), or an epoll instance that
 * watches one (it stays on the queue for as long as it watches the file,
 * asleep or not: an edge-triggered epoll is reported again by the first
 * record after each report, as a pipe is by a write). So a burst of records
 * while readers sleep costs one wake-up; a poll that did not sleep (timeout
 * 0, or records ready) or that has returned leaves at most the flag, which
 * costs the next record one irq_work that wakes nobody and is not counted.
 * Residue: a record published while a woken poll() is returning (after its
 * last pass, before it left the queue), or by producers on several CPUs as
 * the wake-up runs, may cost one more wake-up. kshm_info.events counts the
 * records published (head) and event_wakeups the wake-ups of a non-empty
 * wait queue; ring_hdr->wakeups mirrors the latter.
 *
 * poll()/select()/epoll_wait() on a ring reader behave as on any file: a
 * signal with a handler ends them with EINTR (SA_RESTART does not restart
 * poll), nothing is consumed and the position stays. Closing a descriptor
 * while another thread polls on it does not end that poll (the poll holds
 * its own reference to the open file): the next record, its timeout or a
 * signal does, and poll() then reports POLLNVAL for the closed descriptor,
 * as for any file. An epoll instance stops watching the file when the open
 * file description's last descriptor is closed.
 *
 * The KSHM_EVENTS_POLLIN trap: in that mode EPOLLIN means "records", but
 * read() still returns the generation and still blocks until the next
 * commit (EAGAIN with O_NONBLOCK). An event loop woken by records must read
 * the ring, not call read().
 *
 * Errors, checked in this order (in every error case nothing happened: no
 * record published, no position stored). An ioctl number with the right
 * type and number but another size (or direction) than KSHM_IOC_EMIT or
 * KSHM_IOC_EVENTS fails with ENOTTY. KSHM_IOC_EMIT with len 0 needs no data:
 * data may then be 0 (NULL) and publishes an empty record.
 * KSHM_IOC_EMIT: EBADF (read-only open file), EFAULT (the struct
 * unreadable), EINVAL (flags or reserved not 0), ENOSPC (the region has no
 * ring), EMSGSIZE (len > KSHM_EV_MAX_DATA),
 * EFAULT (the bytes unreadable, or the struct unwritable). Once published
 * it returns 0 (seq is then stored if the struct is still writable).
 * KSHM_IOC_EVENTS (any open file, read-only ones included): EFAULT (the
 * struct unreadable), EINVAL (flags other than KSHM_EVENTS_POLLIN, reserved
 * or reserved2 not 0), ENOSPC (no ring), EFAULT (the struct unwritable).
 * Once the position is stored it returns 0. Any position is accepted: one
 * beyond head is simply not ready until head passes it.
 *
 * Module parameter ring (at load only, /sys/module/kshm/parameters/ring):
 * 0 (no ring, the default) or a power of two from 1 to
 * KSHM_RING_MAX_RECORDS, written in decimal (an optional leading '+' and a
 * trailing newline are accepted; leading zeroes do not mean octal: ring=016
 * is 16 and ring=010 is 10, refused; ring=0x10 is refused); anything else
 * fails the load with EINVAL. The sysfs stats (below) include events and
 * event_wakeups.
 *
 * ERRORS COMMON TO THE IOCTLS
 *
 * An ioctl number this header does not define, or a defined one with
 * another size or direction: ENOTTY. Every call on a destroyed region:
 * ENODEV (see REGIONS). LOCK, UNLOCK, KWRITE and WAKE on a read-only open
 * file: EBADF. A request is read (EFAULT), then its flags and reserved
 * fields are checked (EINVAL), then its writability (EFAULT): in every case
 * nothing happened. Growing a mapping with mremap() fails (EFAULT).
 *
 * ERRORS BY CALL
 *
 * KSHM_IOC_LOCK: EINVAL (flags other than KSHM_LOCK_*, reserved not 0),
 * EDEADLK (the word names the caller's own id, KSHM_LOCK_TRY included),
 * EBUSY (KSHM_LOCK_TRY: the lock is held or waiters are queued), ETIMEDOUT
 * (timeout_ms passed), ECANCELED, EINTR (see WAITING).
 * KSHM_IOC_UNLOCK: EINVAL (flags not exactly one of KSHM_UNLOCK_COMMIT and
 * KSHM_UNLOCK_ABORT, optionally with KSHM_UNLOCK_PUBLISHED; other bits;
 * reserved not 0), EPERM (the word does not name the caller's own id).
 * KSHM_IOC_KWRITE: EINVAL (len 0, offset + len beyond data_size, also when
 * the sum overflows, reserved not 0), EDEADLK (the caller's own id holds
 * the lock), EFAULT (the bytes unreadable: they are copied once, at the
 * call, before the wait; nothing happened), ENOMEM, then as LOCK:
 * ETIMEDOUT, ECANCELED, EINTR.
 * KSHM_IOC_INFO: EFAULT (the struct unwritable).
 * read(): EINVAL (a size other than 8), EAGAIN (O_NONBLOCK, nothing new),
 * EFAULT (the buffer unwritable: the generation is not marked seen), ENODEV.
 */
#ifndef _UAPI_LINUX_KSHM_H
#define _UAPI_LINUX_KSHM_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define KSHM_DEVICE_PATH	"/dev/kshm"
#define KSHM_MAGIC		0x4d48534bU	/* "KSHM" in memory order */
#define KSHM_ABI_VERSION	2
#define KSHM_MAX_PAGES		1024

/* Regions (see REGIONS above). */
#define KSHM_REGION_DIR			"/dev/kshm/"
#define KSHM_DEFAULT_REGION_NAME	"default"
#define KSHM_DEFAULT_REGION_ALT		"/dev/kshm/default"
#define KSHM_REGION_NAME_MAX		32
#define KSHM_SYSFS_DIR			"/sys/class/misc/"

/*
 * commit_ns: commits through the kernel only (UNLOCK, kernel writers), not
 * fast-path commits, which never enter the kernel.
 *
 * struct kshm_header.flags and waiters mirror the lock as of the driver's
 * last slow-path event (LOCK, UNLOCK, a hand-off, a waiter); a lock taken
 * and released on the fast path never shows there. KSHM_IOC_INFO and
 * ctrl->lock are always current. waiters is exact: only the slow path waits.
 * waiters counts every party queued for the lock: KSHM_IOC_LOCK and
 * KSHM_IOC_KWRITE callers, a tick, in-kernel users.
 * holder_pid is always 0 (see "Pids" above).
 */
#define KSHM_HDR_LOCKED		_BITUL(0)	/* someone holds the lock */
#define KSHM_HDR_KERNEL_HOLDER	_BITUL(1)	/* ...and it is the kernel */
#define KSHM_HDR_OWNER_DIED	_BITUL(2)	/* a holder died; not repaired yet */

/* struct kshm_header.features */
#define KSHM_FEAT_LOCKWORD	_BITUL(0)	/* ctrl page with a lock word */
#define KSHM_FEAT_RING		_BITUL(1)	/* a ring of records, see EVENTS */

/* struct kshm_ctrl.lock */
#define KSHM_LW_OWNER_MASK	0x3fffffffU	/* holder: a lock-word id, or ... */
#define KSHM_LW_KERNEL		KSHM_LW_OWNER_MASK	/* ...the kernel */
#define KSHM_LW_WAITERS		_BITUL(30)	/* parties queued in the driver */
#define KSHM_LW_DIED		_BITUL(31)	/* a holder died; not repaired */
/* A word naming nobody who can hold the lock is reclaimed within this while anyone waits. */
#define KSHM_LW_RECHECK_MS	50

/* The header page. Only the kernel writes it; users map it read-only. */
struct kshm_header {
	__u32 magic;		/* KSHM_MAGIC */
	__u32 abi_version;	/* KSHM_ABI_VERSION */
	__u32 page_size;	/* bytes in a page */
	__u32 pages;		/* data pages */
	__u32 abi1_seq;		/* ABI 1's seqcount: 0, see kshm_ctrl */
	__u32 flags;		/* KSHM_HDR_* */
	__u64 abi1_generation;	/* ABI 1's generation: 0, see kshm_ctrl */
	__s32 holder_pid;	/* always 0 (was the holder's pid): use KSHM_IOC_INFO */
	__u32 waiters;		/* parties queued for the lock (see above) */
	__u64 data_offset;	/* mmap offset of the data pages */
	__u64 data_size;	/* pages * page_size */
	__u64 ctrl_offset;	/* mmap offset of the control page, or 0 */
	__u64 commit_ns;	/* CLOCK_MONOTONIC of the last kernel-side commit */
	__u32 tick_offset;	/* data offset of struct kshm_tick */
	__u32 features;		/* KSHM_FEAT_* */
	__u64 ring_offset;	/* mmap offset of the ring (KSHM_FEAT_RING), or 0 */
	__u64 ring_size;	/* bytes of the ring: its header page and the slots */
	__u32 ring_records;	/* slots, a power of two; 0 without a ring */
	__u32 ring_slot_size;	/* bytes per slot (struct kshm_event) */
	__u64 reserved[3];
};

/*
 * The control page, at hdr->ctrl_offset: what a fast-path holder must be able
 * to write. Only the first 64 bytes are used; the rest of the page is 0 when
 * the region is created (users may write it; the kernel never reads it).
 */
struct kshm_ctrl {
	__u32 lock;		/* owner id | KSHM_LW_WAITERS | KSHM_LW_DIED; 0: free */
	__u32 seq;		/* reader seqcount: odd while a holder writes */
	__u64 generation;	/* commits so far */
	__u32 pollers;		/* non-zero: a fast commit must KSHM_IOC_WAKE */
	__u32 reserved0;
	__u64 reserved[5];
};

/*
 * What the kernel ticker (module parameter tick_ms) commits every tick, at
 * hdr->tick_offset in the data area: the last 16 bytes of the data.
 */
struct kshm_tick {
	__u64 count;		/* ticks committed since load */
	__u64 mono_ns;		/* CLOCK_MONOTONIC when written */
};

#define KSHM_TICK_OFFSET(data_size)	((data_size) - sizeof(struct kshm_tick))

/* struct kshm_lock_req.flags (in) */
#define KSHM_LOCK_TRY		_BITUL(0)	/* EBUSY instead of waiting */
#define KSHM_LOCK_STAGED	_BITUL(1)	/* grant with seq even: see STAGING */
/* struct kshm_lock_req.result and kshm_kwrite_req.result (out) */
#define KSHM_LOCK_OWNER_DIED	_BITUL(0)	/* previous holder died */

struct kshm_lock_req {
	__u32 timeout_ms;	/* in: 0 waits without a time limit; out: time left (signal) */
	__u32 flags;		/* in: KSHM_LOCK_* */
	__u32 result;		/* out: KSHM_LOCK_OWNER_DIED */
	__u32 reserved;		/* must be 0 */
	__u64 generation;	/* out: the generation when granted */
};

/* struct kshm_unlock_req.flags: exactly one of (a staged holder: see STAGING) */
#define KSHM_UNLOCK_COMMIT	_BITUL(0)
#define KSHM_UNLOCK_ABORT	_BITUL(1)
/* ...optionally with: the caller already ended the write section (fast path) */
#define KSHM_UNLOCK_PUBLISHED	_BITUL(2)

struct kshm_unlock_req {
	__u32 flags;		/* in: KSHM_UNLOCK_COMMIT or _ABORT */
	__u32 reserved;		/* must be 0 */
	__u64 generation;	/* out: the generation after unlocking */
};

/*
 * Ask the kernel to write bytes at an offset, under the lock, and commit:
 * the kernel queues for the lock like any party. EDEADLK when the caller's
 * own id holds the lock (the kernel would wait for the caller).
 */
struct kshm_kwrite_req {
	__u64 offset;		/* in: byte offset in the data area */
	__u64 data;		/* in: user pointer to the bytes */
	__u32 len;		/* in: 1..data_size */
	__u32 timeout_ms;	/* in: lock wait limit, 0: none; out: time left (signal) */
	__u32 result;		/* out: KSHM_LOCK_OWNER_DIED */
	__u32 reserved;		/* must be 0 */
	__u64 generation;	/* out: the generation of this commit */
};

struct kshm_info {
	__u32 abi_version;
	__u32 pages;
	__u32 page_size;
	__u32 flags;		/* KSHM_HDR_* */
	__u64 generation;
	__s32 holder_pid;
	__u32 waiters;		/* parties queued: LOCK, KWRITE, a tick, in-kernel */
	__u32 tick_ms;
	__u32 features;
	__u64 locks_granted;	/* LOCKs granted, user and kernel */
	__u64 locks_contended;	/* ...that had to wait */
	__u64 lock_timeouts;
	__u64 lock_cancels;
	__u64 owner_died;	/* holders that died with the lock */
	__u64 commits;
	__u64 aborts;
	__u64 kernel_writes;	/* KWRITEs committed */
	__u64 ticks;		/* ticks committed */
	__u64 ticks_skipped;	/* ticks skipped: lock not had in time */
	__u32 file_id;		/* the caller's lock-word id, see THE LOCK */
	__u32 lock_word;	/* ctrl->lock when INFO ran */
	__u64 lock_reclaims;	/* words that named nobody, reclaimed */
	__u64 events;		/* records published in the ring (its head) */
	__u64 event_wakeups;	/* wake-ups of sleeping ring readers */
	__u64 reserved[2];
};

/* The ring (see EVENTS). */
#define KSHM_RING_MAX_RECORDS	65536
#define KSHM_EV_MAX_DATA	104	/* payload bytes per record */
#define KSHM_EV_BUSY		(~(__u64)0)	/* slot seq while it is rewritten */

/* struct kshm_event.flags */
#define KSHM_EV_USER		_BITUL(0)	/* emitted through KSHM_IOC_EMIT */

/* The first page of the ring, at hdr->ring_offset. Read-only. */
struct kshm_ring_hdr {
	__u64 head;		/* records published: the next record's seq */
	__u32 records;		/* slots (hdr->ring_records) */
	__u32 slot_size;	/* bytes per slot (hdr->ring_slot_size) */
	__u64 slots_offset;	/* slot 0, in bytes from the ring's start */
	__u64 wakeups;		/* wake-ups of sleeping readers so far */
	__u64 reserved[4];
};

/* One slot, ring_slot_size bytes. Read-only. */
struct kshm_event {
	__u64 seq;		/* the record's seq; KSHM_EV_BUSY while rewritten */
	__u64 time_ns;		/* CLOCK_MONOTONIC when published */
	__u32 type;		/* the producer's */
	__u16 len;		/* bytes in data, 0..KSHM_EV_MAX_DATA */
	__u16 flags;		/* KSHM_EV_* */
	__u8 data[KSHM_EV_MAX_DATA];
};

/* Publish one record (see EVENTS). */
struct kshm_emit_req {
	__u32 type;		/* in: the record's type */
	__u32 len;		/* in: bytes at data, 0..KSHM_EV_MAX_DATA */
	__u64 data;		/* in: user pointer to the bytes */
	__u32 flags;		/* in: must be 0 */
	__u32 reserved;		/* must be 0 */
	__u64 seq;		/* out: the record's seq */
};

/* struct kshm_events_req.flags (in) */
#define KSHM_EVENTS_POLLIN	_BITUL(0)	/* records also make the file EPOLLIN */

/* Register as an events reader / store this file's position (see EVENTS). */
struct kshm_events_req {
	__u64 pos;		/* in: the seq this open file waits for next */
	__u32 flags;		/* in: KSHM_EVENTS_POLLIN or 0 */
	__u32 reserved;		/* must be 0 */
	__u64 head;		/* out: ring_hdr->head when stored */
	__u64 reserved2;	/* must be 0 */
};

#define KSHM_IOC_MAGIC	0xb9

/*
 * The state and counters; file_id is the calling process's id for this open
 * file, allocated at its first call (ENOMEM, EMFILE: none left).
 */
#define KSHM_IOC_INFO	_IOR(KSHM_IOC_MAGIC, 0, struct kshm_info)
#define KSHM_IOC_LOCK	_IOWR(KSHM_IOC_MAGIC, 1, struct kshm_lock_req)
#define KSHM_IOC_UNLOCK	_IOWR(KSHM_IOC_MAGIC, 2, struct kshm_unlock_req)
/*
 * Wake this open file's blocked KSHM_IOC_LOCK and KSHM_IOC_KWRITE calls, in
 * every process, with ECANCELED. Not sticky: later calls wait as usual.
 */
#define KSHM_IOC_CANCEL	_IO(KSHM_IOC_MAGIC, 3)
#define KSHM_IOC_KWRITE	_IOWR(KSHM_IOC_MAGIC, 4, struct kshm_kwrite_req)
/* Wake pollers after a fast-path commit (when ctrl->pollers was set). */
#define KSHM_IOC_WAKE	_IO(KSHM_IOC_MAGIC, 5)
#define KSHM_IOC_EMIT	_IOWR(KSHM_IOC_MAGIC, 6, struct kshm_emit_req)
#define KSHM_IOC_EVENTS	_IOWR(KSHM_IOC_MAGIC, 7, struct kshm_events_req)
/* Numbers 8 to 15 are reserved. */

#endif /* _UAPI_LINUX_KSHM_H */
