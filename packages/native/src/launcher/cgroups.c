/* Per-container cgroups. The nagaya subtree sits under the launcher's own cgroup (read from
 * /proc/self/cgroup), so a service confined to a delegated cgroup stays inside it.
 * On cgroup v2 the no-internal-process rule means the launcher first moves itself into a leaf
 * ("<own>/nagaya-launcher") before enabling controllers for the "<own>/nagaya" subtree. */
#define _GNU_SOURCE
#include "cgroups.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "write_text.h"

enum { SLOT_MEMORY, SLOT_PIDS, SLOT_CPU, SLOT_CPUACCT };
static const char *const v1_controllers[CGROUP_SLOTS] = {"memory", "pids", "cpu", "cpuacct"};
static bool layout_v2;
static char subtree_root[CGROUP_SLOTS][512]; /* v1: per controller; v2: [0] only */

static int write_file(const char *dir, const char *name, const char *value) {
  char path[640];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return write_text_file(path, value);
}

/* Finds this process's path in the hierarchy named by `controller` ("" for the v2 line). */
static int own_cgroup_path(const char *controller, char *out, size_t size) {
  FILE *f = fopen("/proc/self/cgroup", "re");
  if (f == NULL) return -1;
  char line[1024];
  int found = -1;
  while (fgets(line, sizeof line, f) != NULL) {
    char *first = strchr(line, ':');
    if (first == NULL) continue;
    char *second = strchr(first + 1, ':');
    if (second == NULL) continue;
    *second = '\0';
    const char *list = first + 1;
    char *path = second + 1;
    path[strcspn(path, "\n")] = '\0';
    bool match = false;
    if (controller[0] == '\0') {
      match = list[0] == '\0' && strncmp(line, "0:", 2) == 0;
    } else {
      char copy[256];
      snprintf(copy, sizeof copy, "%s", list);
      for (char *save, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (strcmp(tok, controller) == 0) match = true;
    }
    if (match) {
      snprintf(out, size, "%s", strcmp(path, "/") == 0 ? "" : path);
      found = 0;
      break;
    }
  }
  fclose(f);
  return found;
}

static int make_dir(const char *path) { return mkdir(path, 0755) < 0 && errno != EEXIST ? -1 : 0; }

static char launcher_leaf[16];

static void hash_state_dir(const char *state_dir) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (const char *p = state_dir; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
  snprintf(launcher_leaf, sizeof launcher_leaf, "%08x", h);
}

int cgroups_init(const char *state_dir, struct step_error *err) {
  struct stat st;
  hash_state_dir(state_dir);
  layout_v2 = stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0;
  char own[400];
  if (layout_v2) {
    if (own_cgroup_path("", own, sizeof own) < 0) return step_fail(err, "cgroup-init", "open", errno);
    char base[512], leaf[512];
    snprintf(base, sizeof base, "/sys/fs/cgroup%s", own);
    if (own[0] != '\0') {
      snprintf(leaf, sizeof leaf, "%s/nagaya-launcher", base);
      if (make_dir(leaf) < 0) return step_fail(err, "cgroup-init", "mkdir", errno);
      char pid[32];
      snprintf(pid, sizeof pid, "%d", getpid());
      if (write_file(leaf, "cgroup.procs", pid) < 0) return step_fail(err, "cgroup-init", "write", errno);
    }
    write_file(base, "cgroup.subtree_control", "+memory +pids +cpu");
    snprintf(subtree_root[0], sizeof subtree_root[0], "%s/nagaya", base);
    if (make_dir(subtree_root[0]) < 0) return step_fail(err, "cgroup-init", "mkdir", errno);
    write_file(subtree_root[0], "cgroup.subtree_control", "+memory +pids +cpu");
    size_t len = strlen(subtree_root[0]);
    snprintf(subtree_root[0] + len, sizeof subtree_root[0] - len, "/%s", launcher_leaf);
    if (make_dir(subtree_root[0]) < 0) return step_fail(err, "cgroup-init", "mkdir", errno);
    write_file(subtree_root[0], "cgroup.subtree_control", "+memory +pids +cpu");
    return 0;
  }
  for (int i = 0; i < CGROUP_SLOTS; i++) {
    if (own_cgroup_path(v1_controllers[i], own, sizeof own) < 0) own[0] = '\0';
    snprintf(subtree_root[i], sizeof subtree_root[i], "/sys/fs/cgroup/%s%s/nagaya", v1_controllers[i], own);
    char mount_dir[128];
    snprintf(mount_dir, sizeof mount_dir, "/sys/fs/cgroup/%s", v1_controllers[i]);
    if (stat(mount_dir, &st) != 0) {
      subtree_root[i][0] = '\0';
      continue;
    }
    /* cpu and cpuacct mounted together (cpu,cpuacct): the cpu cgroup already accounts */
    struct stat cpu_mount;
    if (i == SLOT_CPUACCT && stat("/sys/fs/cgroup/cpu", &cpu_mount) == 0 && cpu_mount.st_dev == st.st_dev &&
        cpu_mount.st_ino == st.st_ino) {
      subtree_root[i][0] = '\0';
      continue;
    }
    make_dir(subtree_root[i]);
    size_t len = strlen(subtree_root[i]);
    snprintf(subtree_root[i] + len, sizeof subtree_root[i] - len, "/%s", launcher_leaf);
    make_dir(subtree_root[i]);
  }
  return 0;
}

void cgroups_shutdown(void) {
  for (int i = 0; i < CGROUP_SLOTS; i++)
    if (subtree_root[i][0] != '\0') rmdir(subtree_root[i]);
}

static void fail_and_remove(struct container_cgroups *cg) { cgroups_remove(cg); }

/* Creates one directory, replacing an empty leftover of a crashed launcher. */
static int create_dir(const char *path) {
  if (mkdir(path, 0755) == 0) return 0;
  if (errno != EEXIST) return -1;
  if (rmdir(path) < 0) return -1;
  return mkdir(path, 0755);
}

int cgroups_create(const struct launch_spec *spec, struct container_cgroups *out, struct step_error *err) {
  memset(out, 0, sizeof *out);
  out->v2 = layout_v2;
  /* limited: a limit to write, so the hierarchy must exist; wanted: made wherever it exists */
  bool cpuacct_joint = !layout_v2 && subtree_root[SLOT_CPUACCT][0] == '\0';
  bool limited[CGROUP_SLOTS] = {spec->memory_bytes > 0, true, spec->cpu_quota_us > 0, false};
  bool wants[CGROUP_SLOTS] = {true, true, spec->cpu_quota_us > 0 || cpuacct_joint, true};
  char value[64];
  if (layout_v2) {
    snprintf(out->dirs[0], sizeof out->dirs[0], "%s/%s", subtree_root[0], spec->id);
    if (create_dir(out->dirs[0]) < 0) return step_fail(err, "cgroup-create", "mkdir", errno);
    out->count = 1;
    if (limited[SLOT_MEMORY]) {
      snprintf(value, sizeof value, "%lld", (long long)spec->memory_bytes);
      if (write_file(out->dirs[0], "memory.max", value) < 0) goto v2_fail;
      write_file(out->dirs[0], "memory.swap.max", "0");
    }
    if (limited[SLOT_PIDS]) {
      snprintf(value, sizeof value, "%lld", (long long)spec->pids_max);
      if (write_file(out->dirs[0], "pids.max", value) < 0) goto v2_fail;
    }
    if (limited[SLOT_CPU]) {
      snprintf(value, sizeof value, "%lld %lld", (long long)spec->cpu_quota_us, (long long)spec->cpu_period_us);
      if (write_file(out->dirs[0], "cpu.max", value) < 0) goto v2_fail;
    }
    return 0;
  v2_fail:
    step_fail(err, "cgroup-limits", "write", errno);
    fail_and_remove(out);
    return -1;
  }
  for (int i = 0; i < CGROUP_SLOTS; i++) {
    if (!wants[i] || (subtree_root[i][0] == '\0' && !limited[i])) continue;
    if (subtree_root[i][0] == '\0') { /* no such hierarchy here: the limit cannot be enforced */
      step_fail(err, "cgroup-create", v1_controllers[i], ENODEV);
      fail_and_remove(out);
      return -1;
    }
    char *dir = out->dirs[out->count];
    snprintf(dir, sizeof out->dirs[0], "%s/%s", subtree_root[i], spec->id);
    if (create_dir(dir) < 0) {
      step_fail(err, "cgroup-create", "mkdir", errno);
      fail_and_remove(out);
      return -1;
    }
    out->count++;
    int rc = 0;
    if (i == SLOT_MEMORY && limited[i]) {
      snprintf(value, sizeof value, "%lld", (long long)spec->memory_bytes);
      rc = write_file(dir, "memory.limit_in_bytes", value);
    } else if (i == SLOT_PIDS) {
      snprintf(value, sizeof value, "%lld", (long long)spec->pids_max);
      rc = write_file(dir, "pids.max", value);
    } else if (i == SLOT_CPU && limited[i]) {
      snprintf(value, sizeof value, "%lld", (long long)spec->cpu_period_us);
      rc = write_file(dir, "cpu.cfs_period_us", value);
      snprintf(value, sizeof value, "%lld", (long long)spec->cpu_quota_us);
      if (rc == 0) rc = write_file(dir, "cpu.cfs_quota_us", value);
    }
    if (rc < 0) {
      step_fail(err, "cgroup-limits", "write", errno);
      fail_and_remove(out);
      return -1;
    }
  }
  return 0;
}

int cgroups_attach(const struct container_cgroups *cg, pid_t pid, struct step_error *err) {
  char value[32];
  snprintf(value, sizeof value, "%d", pid);
  for (int i = 0; i < cg->count; i++)
    if (write_file(cg->dirs[i], "cgroup.procs", value) < 0) return step_fail(err, "cgroup-attach", "write", errno);
  return 0;
}

static long read_counter(const char *path, const char *key) {
  FILE *f = fopen(path, "re");
  if (f == NULL) return 0;
  char name[64];
  long long value;
  long result = 0;
  while (fscanf(f, "%63s %lld", name, &value) == 2)
    if (strcmp(name, key) == 0) result = (long)value;
  fclose(f);
  return result;
}

bool cgroups_oom_killed(const struct container_cgroups *cg) {
  for (int i = 0; i < cg->count; i++) {
    char path[640];
    if (cg->v2) {
      snprintf(path, sizeof path, "%s/memory.events", cg->dirs[i]);
      if (read_counter(path, "oom_kill") > 0) return true;
    } else if (strstr(cg->dirs[i], "/sys/fs/cgroup/memory/") == cg->dirs[i]) {
      snprintf(path, sizeof path, "%s/memory.oom_control", cg->dirs[i]);
      if (read_counter(path, "oom_kill") > 0) return true;
    }
  }
  return false;
}

void cgroups_each_root(void (*fn)(const char *root, void *arg), void *arg) {
  for (int i = 0; i < CGROUP_SLOTS; i++)
    if (subtree_root[i][0] != '\0') fn(subtree_root[i], arg);
}

void cgroups_prune(bool (*alive)(const char *id), void (*removed)(const char *dir, void *arg), void *arg) {
  for (int i = 0; i < CGROUP_SLOTS; i++) {
    if (subtree_root[i][0] == '\0') continue;
    DIR *d = opendir(subtree_root[i]);
    if (d == NULL) continue;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (e->d_type != DT_DIR || e->d_name[0] == '.' || alive(e->d_name)) continue;
      char dir[640];
      snprintf(dir, sizeof dir, "%s/%s", subtree_root[i], e->d_name);
      if (rmdir(dir) == 0) removed(dir, arg);
    }
    closedir(d);
  }
}

/* The pids cgroup among a container's cgroups, if it exists and caps the count (-1 if none). */
static int bounded_pids_dir(const struct container_cgroups *cg) {
  for (int i = 0; i < cg->count; i++) {
    if (!cg->v2 && strstr(cg->dirs[i], "/sys/fs/cgroup/pids/") != cg->dirs[i]) continue;
    char path[640], text[32] = "";
    snprintf(path, sizeof path, "%s/pids.max", cg->dirs[i]);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n > 0 && text[0] >= '0' && text[0] <= '9') return i;
  }
  return -1;
}

/* Writes every process descended from init (by parent pid, as in the container's pid namespace
 * every orphan is reparented to init) to dir/cgroup.procs; returns how many there were. */
static int move_descendants(pid_t init, const char *dir) {
  enum { MAX_PROCS = 1 << 16 };
  static pid_t pids[MAX_PROCS], parents[MAX_PROCS], members[MAX_PROCS];
  int n = 0;
  DIR *proc = opendir("/proc");
  if (proc == NULL) return -1;
  struct dirent *e;
  while ((e = readdir(proc)) != NULL && n < MAX_PROCS) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t len = read(fd, text, sizeof text - 1);
    close(fd);
    if (len <= 0) continue;
    text[len] = '\0';
    const char *after = strrchr(text, ')'); /* comm may hold spaces and parentheses */
    int ppid;
    if (after == NULL || sscanf(after + 2, "%*c %d", &ppid) != 1) continue;
    pids[n] = (pid_t)atoi(e->d_name);
    parents[n++] = (pid_t)ppid;
  }
  closedir(proc);
  int count = 0;
  members[count++] = init;
  for (int head = 0; head < count; head++)
    for (int i = 0; i < n && count < MAX_PROCS; i++)
      if (parents[i] == members[head]) members[count++] = pids[i];
  char value[32];
  for (int i = 0; i < count; i++) {
    snprintf(value, sizeof value, "%d", members[i]);
    write_file(dir, "cgroup.procs", value); /* one that exited meanwhile: ESRCH, nothing to move */
  }
  return count;
}

int cgroups_bound_pids(const char *id, pid_t init, int64_t pids_max, struct container_cgroups *cg,
                       struct step_error *err) {
  if (bounded_pids_dir(cg) >= 0) return 0;
  int slot = layout_v2 ? 0 : SLOT_PIDS;
  if (subtree_root[slot][0] == '\0') return step_fail(err, "cgroup-create", "pids", ENODEV);
  char dir[512], value[32];
  snprintf(dir, sizeof dir, "%s/%s", subtree_root[slot], id);
  if (mkdir(dir, 0755) < 0 && errno != EEXIST) return step_fail(err, "cgroup-create", "mkdir", errno);
  snprintf(value, sizeof value, "%lld", (long long)pids_max);
  if (write_file(dir, "pids.max", value) < 0) return step_fail(err, "cgroup-limits", "write", errno);
  /* Processes may fork while we move them: again until a pass finds no more of them. */
  for (int pass = 0, last = -1; pass < 20; pass++) {
    int moved = move_descendants(init, dir);
    if (moved < 0) return step_fail(err, "cgroup-attach", "opendir", errno);
    if (moved == last) break;
    last = moved;
  }
  /* the dir of a cgroup already listed (emptied and replaced) is reused, else it is added */
  int i = 0;
  while (i < cg->count && strcmp(cg->dirs[i], dir) != 0) i++;
  if (i == cg->count) {
    if (cg->count == CGROUP_SLOTS) return step_fail(err, "cgroup-create", "slots", ENOSPC);
    cg->count++;
  }
  snprintf(cg->dirs[i], sizeof cg->dirs[i], "%s", dir);
  cg->v2 = layout_v2;
  return 0;
}

void cgroups_remove(struct container_cgroups *cg) {
  for (int i = cg->count - 1; i >= 0; i--) {
    /* The last task may still be leaving the cgroup for a moment after the pidfd reports exit. */
    for (int attempt = 0; attempt < 50; attempt++) {
      if (rmdir(cg->dirs[i]) == 0 || errno == ENOENT) break;
      if (errno != EBUSY) break;
      struct timespec pause = {0, 2 * 1000 * 1000};
      nanosleep(&pause, NULL);
    }
  }
  cg->count = 0;
}
