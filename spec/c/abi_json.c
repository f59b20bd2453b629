// SPDX-License-Identifier: GPL-2.0
/*
 * Prints the ABI as the C compiler sees it, as JSON: every constant, struct
 * size and field offset of driver/include/uapi/kshm.h, and libkshm's own
 * (native-shim/kshm.h). spec/host/abi.spec.ts compares it with lib/abi.ts
 * and the koffi struct definitions, so that a drift fails npm test.
 */
#include <stddef.h>
#include <stdio.h>
#include "kshm.h"

static const char *sep;

#define CONST(name)	do { printf("%s\n    \"%s\": %llu", sep, #name, (unsigned long long)(name)); sep = ","; } while (0)
#define STR(name)	do { printf("%s\n    \"%s\": \"%s\"", sep, #name, name); sep = ","; } while (0)
#define STRUCT(s)	do { printf("%s\n    \"%s\": { \"size\": %zu, \"fields\": {", sep, #s, sizeof(struct s)); sep = ""; } while (0)
#define FIELD(s, f)	do { printf("%s \"%s\": %zu", sep, #f, offsetof(struct s, f)); sep = ","; } while (0)
#define END()		do { printf(" } }"); sep = ","; } while (0)

int main(void)
{
	printf("{\n  \"constants\": {");
	sep = "";
	CONST(KSHM_MAGIC); CONST(KSHM_ABI_VERSION); CONST(KSHM_MAX_PAGES);
	CONST(KSHM_HDR_LOCKED); CONST(KSHM_HDR_KERNEL_HOLDER); CONST(KSHM_HDR_OWNER_DIED);
	CONST(KSHM_FEAT_LOCKWORD); CONST(KSHM_FEAT_RING);
	CONST(KSHM_RING_MAX_RECORDS); CONST(KSHM_EV_MAX_DATA); CONST(KSHM_EV_BUSY); CONST(KSHM_EV_USER);
	CONST(KSHM_EVENTS_POLLIN); CONST(KSHM_IOC_EMIT); CONST(KSHM_IOC_EVENTS);
	CONST(KSHM_EVENTS_FROM_NOW); CONST(KSHM_EVENTS_FROM_OLDEST);
	CONST(KSHM_LW_OWNER_MASK); CONST(KSHM_LW_KERNEL); CONST(KSHM_LW_WAITERS); CONST(KSHM_LW_DIED);
	CONST(KSHM_LOCK_TRY); CONST(KSHM_LOCK_STAGED); CONST(KSHM_LOCK_OWNER_DIED);
	CONST(KSHM_UNLOCK_COMMIT); CONST(KSHM_UNLOCK_ABORT); CONST(KSHM_UNLOCK_PUBLISHED);
	CONST(KSHM_IOC_MAGIC); CONST(KSHM_IOC_INFO); CONST(KSHM_IOC_LOCK); CONST(KSHM_IOC_UNLOCK);
	CONST(KSHM_IOC_CANCEL); CONST(KSHM_IOC_KWRITE); CONST(KSHM_IOC_WAKE);
	CONST(KSHM_E_ABI); CONST(KSHM_E_MAGIC); CONST(KSHM_E_TOO_MANY);
	CONST(KSHM_OPEN_READONLY); CONST(KSHM_OPEN_NO_FASTPATH);
	STR(KSHM_DEVICE_PATH); STR(KSHM_REGION_DIR); STR(KSHM_DEFAULT_REGION_NAME);
	STR(KSHM_DEFAULT_REGION_ALT); STR(KSHM_SYSFS_DIR); CONST(KSHM_REGION_NAME_MAX);
	printf("\n  },\n  \"structs\": {");
	sep = "";
	STRUCT(kshm_header);
	FIELD(kshm_header, magic); FIELD(kshm_header, abi_version); FIELD(kshm_header, page_size);
	FIELD(kshm_header, pages); FIELD(kshm_header, abi1_seq); FIELD(kshm_header, flags);
	FIELD(kshm_header, abi1_generation); FIELD(kshm_header, holder_pid); FIELD(kshm_header, waiters);
	FIELD(kshm_header, data_offset); FIELD(kshm_header, data_size); FIELD(kshm_header, ctrl_offset);
	FIELD(kshm_header, commit_ns); FIELD(kshm_header, tick_offset); FIELD(kshm_header, features);
	FIELD(kshm_header, ring_offset); FIELD(kshm_header, ring_size); FIELD(kshm_header, ring_records);
	FIELD(kshm_header, ring_slot_size);
	FIELD(kshm_header, reserved);
	END();
	STRUCT(kshm_ctrl);
	FIELD(kshm_ctrl, lock); FIELD(kshm_ctrl, seq); FIELD(kshm_ctrl, generation);
	FIELD(kshm_ctrl, pollers); FIELD(kshm_ctrl, reserved0); FIELD(kshm_ctrl, reserved);
	END();
	STRUCT(kshm_tick);
	FIELD(kshm_tick, count); FIELD(kshm_tick, mono_ns);
	END();
	STRUCT(kshm_lock_req);
	FIELD(kshm_lock_req, timeout_ms); FIELD(kshm_lock_req, flags); FIELD(kshm_lock_req, result);
	FIELD(kshm_lock_req, reserved); FIELD(kshm_lock_req, generation);
	END();
	STRUCT(kshm_unlock_req);
	FIELD(kshm_unlock_req, flags); FIELD(kshm_unlock_req, reserved); FIELD(kshm_unlock_req, generation);
	END();
	STRUCT(kshm_kwrite_req);
	FIELD(kshm_kwrite_req, offset); FIELD(kshm_kwrite_req, data); FIELD(kshm_kwrite_req, len);
	FIELD(kshm_kwrite_req, timeout_ms); FIELD(kshm_kwrite_req, result); FIELD(kshm_kwrite_req, reserved);
	FIELD(kshm_kwrite_req, generation);
	END();
	STRUCT(kshm_info);
	FIELD(kshm_info, abi_version); FIELD(kshm_info, pages); FIELD(kshm_info, page_size);
	FIELD(kshm_info, flags); FIELD(kshm_info, generation); FIELD(kshm_info, holder_pid);
	FIELD(kshm_info, waiters); FIELD(kshm_info, tick_ms); FIELD(kshm_info, features);
	FIELD(kshm_info, locks_granted); FIELD(kshm_info, locks_contended); FIELD(kshm_info, lock_timeouts);
	FIELD(kshm_info, lock_cancels); FIELD(kshm_info, owner_died); FIELD(kshm_info, commits);
	FIELD(kshm_info, aborts); FIELD(kshm_info, kernel_writes); FIELD(kshm_info, ticks);
	FIELD(kshm_info, ticks_skipped); FIELD(kshm_info, file_id); FIELD(kshm_info, lock_word);
	FIELD(kshm_info, lock_reclaims); FIELD(kshm_info, events); FIELD(kshm_info, event_wakeups);
	FIELD(kshm_info, reserved);
	END();
	STRUCT(kshm_ring_hdr);
	FIELD(kshm_ring_hdr, head); FIELD(kshm_ring_hdr, records); FIELD(kshm_ring_hdr, slot_size);
	FIELD(kshm_ring_hdr, slots_offset); FIELD(kshm_ring_hdr, wakeups); FIELD(kshm_ring_hdr, reserved);
	END();
	STRUCT(kshm_event);
	FIELD(kshm_event, seq); FIELD(kshm_event, time_ns); FIELD(kshm_event, type);
	FIELD(kshm_event, len); FIELD(kshm_event, flags); FIELD(kshm_event, data);
	END();
	STRUCT(kshm_emit_req);
	FIELD(kshm_emit_req, type); FIELD(kshm_emit_req, len); FIELD(kshm_emit_req, data);
	FIELD(kshm_emit_req, flags); FIELD(kshm_emit_req, reserved); FIELD(kshm_emit_req, seq);
	END();
	STRUCT(kshm_events_req);
	FIELD(kshm_events_req, pos); FIELD(kshm_events_req, flags); FIELD(kshm_events_req, reserved);
	FIELD(kshm_events_req, head); FIELD(kshm_events_req, reserved2);
	END();
	STRUCT(kshm_event_rec);
	FIELD(kshm_event_rec, seq); FIELD(kshm_event_rec, time_ns); FIELD(kshm_event_rec, lost_before);
	FIELD(kshm_event_rec, type); FIELD(kshm_event_rec, len); FIELD(kshm_event_rec, flags);
	FIELD(kshm_event_rec, data);
	END();
	STRUCT(kshm_layout);
	FIELD(kshm_layout, header); FIELD(kshm_layout, data); FIELD(kshm_layout, data_size);
	FIELD(kshm_layout, ctrl); FIELD(kshm_layout, file_id); FIELD(kshm_layout, fd);
	END();
	printf("\n  }\n}\n");
	return 0;
}
