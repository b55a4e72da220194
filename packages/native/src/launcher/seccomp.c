/* The seccomp filter of every container process, hand-built as classic BPF (the launcher links
 * statically, so no libseccomp).
 *
 * What it denies, with EPERM: every syscall that Docker's default profile (moby
 * profiles/seccomp/default.json) refuses to a container without extra capabilities, plus
 * io_uring (newer Docker profiles refuse it too), process_vm_readv/writev, and the newer mount
 * and LSM calls; name_to_handle_at gets EOPNOTSUPP (see below). Like Docker it allows
 * adjtimex and clock_adjtime: reading the clock's state is harmless, and setting it needs
 * CAP_SYS_TIME in the host's user namespace. Docker's profile is an allow-list; a deny-list is
 * as strict only if it names every syscall up to the newest one reviewed here, and refuses
 * everything above that with ENOSYS (as runc does for syscalls newer than its profile: libc
 * then falls back to the old call). Syscalls of another ABI (x32 numbers, i386 `int 0x80`, arm32 compat) are refused
 * whole: they carry other numbers, and the table below knows the native ones only.
 *
 * Calls inspected by argument, as Docker does:
 *  - clone: no namespace flags (with nesting: CLONE_NEWUSER alone among them);
 *  - clone3: ENOSYS, so libc falls back to clone, whose flags a classic filter can read
 *    (clone3 passes them in memory);
 *  - unshare: refused (with nesting: allowed when CLONE_NEWUSER is the only namespace flag);
 *  - personality: only the personas Docker allows (0, 8, 0x20000, 0x20008, 0xffffffff query);
 *  - socket: not AF_VSOCK.
 *
 * Every verdict that depends on the syscall number alone is reached without loading an
 * argument, so the kernel's per-syscall action cache (Linux 5.11+) lets allowed calls skip
 * the filter entirely: the filter costs nothing on the hot path. */
#define _GNU_SOURCE
#include "seccomp.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/audit.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__) && !defined(__ILP32__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#define X32_SYSCALL_BIT 0x40000000U
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "the seccomp filter knows the syscall numbers of x86_64 and aarch64 only"
#endif

/* Syscalls newer than the C library's headers; their numbers are the same on every arch. */
#ifndef __NR_statmount
#define __NR_statmount 457
#endif
#ifndef __NR_listmount
#define __NR_listmount 458
#endif
#ifndef __NR_lsm_set_self_attr
#define __NR_lsm_set_self_attr 460
#endif
#ifndef __NR_open_tree_attr
#define __NR_open_tree_attr 467
#endif
/* file_setattr (Linux 6.17): every syscall up to here was reviewed; those above get ENOSYS. */
#define LAST_REVIEWED_SYSCALL 469

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
/* Docker's clone mask (2114060288): every namespace flag clone() accepts. */
#define CLONE_NAMESPACE_FLAGS \
  (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET)
/* unshare() also takes a time namespace (for clone() the low byte is the exit signal). */
#define UNSHARE_NAMESPACE_FLAGS (CLONE_NAMESPACE_FLAGS | CLONE_NEWTIME)

/* Refused with EPERM, as by Docker's profile unless a capability nagaya never grants is added. */
static const uint32_t denied[] = {
    __NR_acct,
    __NR_add_key,
    __NR_bpf,
    __NR_clock_settime,
    __NR_delete_module,
    __NR_fanotify_init,
    __NR_finit_module,
    __NR_fsconfig,
    __NR_fsmount,
    __NR_fsopen,
    __NR_fspick,
    __NR_get_mempolicy,
    __NR_init_module,
    __NR_io_uring_enter,
    __NR_io_uring_register,
    __NR_io_uring_setup,
    __NR_kcmp,
    __NR_kexec_file_load,
    __NR_kexec_load,
    __NR_keyctl,
    __NR_listmount,
    __NR_lookup_dcookie,
    __NR_lsm_set_self_attr,
    __NR_mbind,
    __NR_migrate_pages,
    __NR_mount,
    __NR_mount_setattr,
    __NR_move_mount,
    __NR_move_pages,
    __NR_nfsservctl,
    __NR_open_by_handle_at,
    __NR_open_tree,
    __NR_open_tree_attr,
    __NR_perf_event_open,
    __NR_pidfd_getfd,
    __NR_pivot_root,
    __NR_process_madvise,
    __NR_process_vm_readv,
    __NR_process_vm_writev,
    __NR_quotactl,
    __NR_quotactl_fd,
    __NR_reboot,
    __NR_request_key,
    __NR_set_mempolicy,
    __NR_set_mempolicy_home_node,
    __NR_setdomainname,
    __NR_sethostname,
    __NR_setns,
    __NR_settimeofday,
    __NR_statmount,
    __NR_swapoff,
    __NR_swapon,
    __NR_syslog,
    __NR_umount2,
    __NR_userfaultfd,
    __NR_vhangup,
#if defined(__x86_64__)
    /* x86_64 only: obsolete or never implemented, and port I/O. */
    __NR__sysctl,
    __NR_afs_syscall,
    __NR_create_module,
    __NR_get_kernel_syms,
    __NR_getpmsg,
    __NR_ioperm,
    __NR_iopl,
    __NR_putpmsg,
    __NR_query_module,
    __NR_security,
    __NR_sysfs,
    __NR_tuxcall,
    __NR_uselib,
    __NR_ustat,
    __NR_vserver,
#endif
};

/* Where the verdicts and the argument checks sit; jumps name these and are resolved at the end.
 * The search tree adds labels of its own, numbered from FIRST_TREE_LABEL. */
enum label {
  NEXT,
  ALLOW,
  DENY,
  NO_SYSCALL,
  NOT_SUPPORTED,
  CHECK_CLONE,
  CHECK_UNSHARE,
  CHECK_PERSONALITY,
  CHECK_SOCKET,
  FIRST_TREE_LABEL
};

#define MAX_INSNS 255
#define MAX_LABELS 128
#define MAX_RULES 128

struct program {
  struct sock_filter insns[MAX_INSNS];
  uint8_t jt[MAX_INSNS], jf[MAX_INSNS]; /* labels, resolved into offsets by finish() */
  int at[MAX_LABELS];
  int labels, len;
  bool overflow;
  struct sock_fprog fprog;
};

/* A syscall number and where the filter goes for it. */
struct rule {
  uint32_t nr;
  uint8_t target;
};

static struct program programs[2]; /* [0] default, [1] nesting */

static void emit(struct program *p, uint16_t code, uint32_t k, int jt, int jf) {
  if (p->len >= MAX_INSNS) {
    p->overflow = true;
    return;
  }
  p->insns[p->len] = (struct sock_filter){.code = code, .jt = 0, .jf = 0, .k = k};
  p->jt[p->len] = (uint8_t)jt;
  p->jf[p->len] = (uint8_t)jf;
  p->len++;
}

static int new_label(struct program *p) {
  if (p->labels >= MAX_LABELS) {
    p->overflow = true;
    return NEXT;
  }
  return p->labels++;
}

static void place(struct program *p, int label) { p->at[label] = p->len; }

static void load(struct program *p, uint32_t offset) { emit(p, BPF_LD | BPF_W | BPF_ABS, offset, NEXT, NEXT); }
static void jump_if(struct program *p, uint32_t value, int then, int otherwise) {
  emit(p, BPF_JMP | BPF_JEQ | BPF_K, value, then, otherwise);
}
static void verdict(struct program *p, uint32_t action) { emit(p, BPF_RET | BPF_K, action, NEXT, NEXT); }

/* The low 32 bits of argument i: flags, personas and families are all 32-bit values. */
static uint32_t arg_low(int i) {
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return (uint32_t)(offsetof(struct seccomp_data, args) + 8 * i + 4);
#else
  return (uint32_t)(offsetof(struct seccomp_data, args) + 8 * i);
#endif
}

/* Dispatches on the syscall number (in A) over rules sorted by number: a binary search tree of
 * JGE, with short runs of JEQ at its leaves; a number no rule names is allowed. A few compares
 * per syscall instead of one per rule, which also keeps the kernel's work small when it runs
 * the filter over every syscall number to fill its action cache at each install. */
static void emit_dispatch(struct program *p, const struct rule *rules, int count) {
  if (count <= 3) {
    for (int i = 0; i < count; i++) jump_if(p, rules[i].nr, rules[i].target, NEXT);
    verdict(p, SECCOMP_RET_ALLOW);
    return;
  }
  int half = count / 2;
  int upper = new_label(p);
  emit(p, BPF_JMP | BPF_JGE | BPF_K, rules[half].nr, upper, NEXT);
  emit_dispatch(p, rules, half);
  place(p, upper);
  emit_dispatch(p, rules + half, count - half);
}

static int compare_rules(const void *a, const void *b) {
  uint32_t x = ((const struct rule *)a)->nr, y = ((const struct rule *)b)->nr;
  return x < y ? -1 : x > y;
}

/* Turns label references into forward offsets; classic BPF jumps at most 255 instructions. */
static int finish(struct program *p) {
  if (p->overflow) return -1;
  for (int i = 0; i < p->len; i++) {
    if (BPF_CLASS(p->insns[i].code) != BPF_JMP) continue;
    uint8_t *offsets[2] = {&p->insns[i].jt, &p->insns[i].jf};
    uint8_t labels[2] = {p->jt[i], p->jf[i]};
    for (int j = 0; j < 2; j++) {
      int distance = labels[j] == NEXT ? 0 : p->at[labels[j]] - (i + 1);
      if (distance < 0 || distance > 255) return -1;
      *offsets[j] = (uint8_t)distance;
    }
  }
  p->fprog.len = (unsigned short)p->len;
  p->fprog.filter = p->insns;
  return 0;
}

static int build(struct program *p, bool nesting) {
  memset(p, 0, sizeof *p);
  p->labels = FIRST_TREE_LABEL;
  struct rule rules[MAX_RULES];
  int count = 0;
  const struct rule special[] = {
      {__NR_clone3, NO_SYSCALL},
      {__NR_clone, CHECK_CLONE},
      {__NR_unshare, CHECK_UNSHARE},
      {__NR_personality, CHECK_PERSONALITY},
      {__NR_socket, CHECK_SOCKET},
      /* Without open_by_handle_at a handle is useless; "not supported" is what overlayfs
       * answers anyway, and what programs asking for a mount id already fall back from. */
      {__NR_name_to_handle_at, NOT_SUPPORTED},
  };
  if (sizeof special / sizeof special[0] + sizeof denied / sizeof denied[0] > MAX_RULES) return -1;
  for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) rules[count++] = special[i];
  for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++) rules[count++] = (struct rule){denied[i], DENY};
  qsort(rules, (size_t)count, sizeof rules[0], compare_rules);

  load(p, offsetof(struct seccomp_data, arch));
  jump_if(p, NATIVE_ARCH, NEXT, DENY);
  load(p, offsetof(struct seccomp_data, nr));
#ifdef X32_SYSCALL_BIT
  emit(p, BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, DENY, NEXT);
#endif
  emit(p, BPF_JMP | BPF_JGT | BPF_K, LAST_REVIEWED_SYSCALL, NO_SYSCALL, NEXT);
  emit_dispatch(p, rules, count);

  /* Classic BPF jumps forward only: the argument checks come next, the shared verdicts last. */
  place(p, CHECK_CLONE);
  load(p, arg_low(0));
  emit(p, BPF_ALU | BPF_AND | BPF_K, CLONE_NAMESPACE_FLAGS, NEXT, NEXT);
  if (nesting) jump_if(p, CLONE_NEWUSER, ALLOW, NEXT);
  jump_if(p, 0, ALLOW, DENY);

  place(p, CHECK_UNSHARE);
  if (nesting) {
    load(p, arg_low(0));
    emit(p, BPF_ALU | BPF_AND | BPF_K, UNSHARE_NAMESPACE_FLAGS, NEXT, NEXT);
    jump_if(p, CLONE_NEWUSER, ALLOW, DENY);
  } else {
    verdict(p, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
  }

  place(p, CHECK_PERSONALITY);
  load(p, arg_low(0));
  static const uint32_t personas[] = {0x0, 0x8, 0x20000, 0x20008};
  for (size_t i = 0; i < sizeof personas / sizeof personas[0]; i++) jump_if(p, personas[i], ALLOW, NEXT);
  jump_if(p, 0xffffffffU, ALLOW, DENY);

  place(p, CHECK_SOCKET);
  load(p, arg_low(0));
  jump_if(p, AF_VSOCK, DENY, ALLOW);

  place(p, ALLOW);
  verdict(p, SECCOMP_RET_ALLOW);
  place(p, DENY);
  verdict(p, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
  place(p, NO_SYSCALL);
  verdict(p, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
  place(p, NOT_SUPPORTED);
  verdict(p, SECCOMP_RET_ERRNO | (EOPNOTSUPP & SECCOMP_RET_DATA));
  return finish(p);
}

int seccomp_filters_build(void) {
  if (build(&programs[0], false) < 0 || build(&programs[1], true) < 0) {
    errno = E2BIG;
    return -1;
  }
  return 0;
}

const struct sock_fprog *seccomp_filter_for(bool nesting) { return &programs[nesting ? 1 : 0].fprog; }

int seccomp_install(const struct sock_fprog *prog) {
  return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog);
}
