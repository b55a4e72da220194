/* What one container launch needs, fully built before clone() so the child only reads it. */
#ifndef NAGAYA_LAUNCH_SPEC_H
#define NAGAYA_LAUNCH_SPEC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define MAX_RLIMITS 16
#define MAX_EXEC_CANDIDATES 16
/* Image layers of one container. Overlay takes up to 500; 128 keeps every layer fd and the
 * other rootfs fds within one SCM_RIGHTS message (SCM_MAX_FD, 253). The plan checks it too. */
#define MAX_LAYERS 128
/* Host directories mounted into one container (volumes, host paths). The plan checks it too. */
#define MAX_MOUNTS 32

struct rlimit_request {
  int resource;
  uint64_t value;
};

/* A host directory mounted into the container (see container_mounts.h). */
struct launch_mount {
  const char *source; /* absolute host directory */
  const char *target; /* absolute path inside the container, normalised, not "/" */
  bool read_only;
  bool idmap; /* the source's owners 0..65535 show as the container's own ids */
};

/* The container's eth0: a veth pair whose host end joins a bridge. Absent (enabled false): the
 * container has only its loopback. Addresses are in network byte order. */
struct launch_network {
  bool enabled;
  char host_ifname[16]; /* IFNAMSIZ */
  char bridge[16];
  uint8_t mac[6];
  uint32_t ip;
  uint32_t gateway;
  uint8_t prefix;
  uint32_t mtu;
  const char *resolv_conf; /* written to /etc/resolv.conf in the writable layer; NULL = left alone */
  const char *hosts;       /* written to /etc/hosts; NULL = left alone */
};

struct launch_spec {
  const char *id;
  const char *container_dir; /* <state>/containers/<id>; owned by the launcher */
  /* The image's layer directories, topmost first (overlay's lowerdir order), each shared by every
   * container that uses it and owned 0..65535 on disk; or one private copy shifted by chown. */
  const char *layer_dirs[MAX_LAYERS];
  int layer_count;
  const char *upper_dir;
  const char *work_dir;
  const char *rootfs_dir; /* mountpoint for the overlay */
  bool idmap_lower;       /* false: layer_dirs[0] is a private copy already shifted by chown */
  const char *hostname;
  char **argv;
  char **envp;
  const char *cwd;
  const char *exec_candidates[MAX_EXEC_CANDIDATES + 1]; /* full paths to try, NULL-terminated */
  const char *uid_map;                                  /* uid_map file content, lines "ns host count\n" */
  const char *gid_map;
  uid_t host_root_uid; /* host uid that ns uid 0 maps to: owner of upper/work */
  gid_t host_root_gid;
  const char *log_path;
  struct rlimit_request rlimits[MAX_RLIMITS];
  int rlimit_count;
  int64_t memory_bytes; /* 0 = no limit */
  int64_t pids_max;     /* always > 0: every container has its own pids cgroup */
  int64_t cpu_quota_us; /* 0 = no limit; per cpu_period_us */
  int64_t cpu_period_us;
  bool nesting;  /* security.nesting: the container may create user namespaces */
  uid_t run_uid; /* who the command runs as inside the container (the image's User); 0: root */
  gid_t run_gid;
  struct launch_network net;
  const char *init_host_path;             /* the host's tini-static, run as PID 1 (container_init.c); NULL = none */
  char **init_argv;                       /* "/sbin/nagaya-init", "--", argv...: built with init_host_path */
  struct launch_mount mounts[MAX_MOUNTS]; /* parents before their children */
  int mount_count;
  /* A run (run_io.h): SIGKILL to the init this long after its argv began; 0 = never. */
  int64_t timeout_ms;
  /* >= 0: stdout and stderr captured apart, the first output_limit bytes of each kept; -1 = console log */
  int64_t output_limit;
  const char *stdin_path; /* fed to its stdin, then EOF; NULL = /dev/null */
};

/* A failed step, as reported to JavaScript: which step, which syscall, which errno. */
struct step_error {
  char step[48];
  char syscall[32];
  int err;
};

#endif
