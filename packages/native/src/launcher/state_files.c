/* state.json, launching.json and exit.json in each container's directory, written atomically (tmp + rename)
 * so a reader never sees half a file, even if the launcher dies mid-write. They are created 0600:
 * the records of a container are root's business. */
#define _GNU_SOURCE
#include "state_files.h"

#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "json_text.h"
#include "write_text.h"

int64_t wall_clock_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_atomically(const char *dir, const char *name, const char *text) {
  char path[4200], tmp[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
  unlink(tmp); /* a leftover would keep its mode: always create the file anew */
  cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || write_text_fd(fd, text) < 0) return -1;
  return rename(tmp, path);
}

/* Writes the JSON text to name in dir, atomically, and releases it. */
static int write_json(const char *dir, const char *name, struct json_text *t) {
  json_raw(t, "\n");
  int rc = write_atomically(dir, name, t->buf);
  json_text_free(t);
  return rc;
}

static int write_process_file(const char *container_dir, const char *name, const char *id, pid_t pid,
                              unsigned long long start_time, const struct container_cgroups *cg, bool nesting,
                              int64_t timeout_at_ms) {
  struct json_text t = {0};
  json_raw(&t, "{\"id\":");
  json_string(&t, id);
  json_raw(&t, ",\"pid\":%d,\"startTime\":\"%llu\",\"launcherPid\":%d,\"startedAt\":%lld,\"cgroupV2\":%s,\"cgroups\":[",
           pid, start_time, getpid(), (long long)wall_clock_ms(), cg->v2 ? "true" : "false");
  for (int i = 0; i < cg->count; i++) {
    if (i > 0) json_raw(&t, ",");
    json_string(&t, cg->dirs[i]);
  }
  json_raw(&t, "],\"nesting\":%s", nesting ? "true" : "false");
  /* The monotonic clock is the machine's, not the launcher's: a successor re-arms the same
   * deadline, whatever the wall clock did meanwhile (containers do not outlive a reboot).
   * timeoutAt is the same deadline for readers, in ms since the epoch. */
  if (timeout_at_ms > 0)
    json_raw(&t, ",\"timeoutAt\":%lld,\"timeoutAtMonotonic\":%lld",
             (long long)(wall_clock_ms() + (timeout_at_ms - monotonic_ms())), (long long)timeout_at_ms);
  json_raw(&t, "}");
  return write_json(container_dir, name, &t);
}

int write_state_file(const char *container_dir, const char *id, pid_t pid, unsigned long long start_time,
                     const struct container_cgroups *cg, bool nesting, int64_t timeout_at_ms) {
  return write_process_file(container_dir, "state.json", id, pid, start_time, cg, nesting, timeout_at_ms);
}

int write_launching_file(const char *container_dir, const char *id, pid_t pid, unsigned long long start_time,
                         const struct container_cgroups *cg, bool nesting) {
  return write_process_file(container_dir, "launching.json", id, pid, start_time, cg, nesting, 0);
}

void remove_run_records(const char *container_dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/exit.json", container_dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/state.json", container_dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/veth", container_dir);
  unlink(path);
  /* a run's captured output belongs to that run (a new one creates them anew) */
  snprintf(path, sizeof path, "%s/stdout", container_dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/stderr", container_dir);
  unlink(path);
}

int write_veth_file(const char *container_dir, const char *host_ifname) {
  char text[32];
  snprintf(text, sizeof text, "%s\n", host_ifname);
  return write_atomically(container_dir, "veth", text);
}

int read_veth_file(const char *container_dir, char out[16]) {
  char path[4200], text[32];
  snprintf(path, sizeof path, "%s/veth", container_dir);
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, text, sizeof text - 1);
  if (n <= 1) return -1;
  text[n] = '\0';
  text[strcspn(text, "\n")] = '\0';
  if (strlen(text) >= 16) return -1;
  memcpy(out, text, strlen(text) + 1);
  return 0;
}

void remove_launching_file(const char *container_dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/launching.json", container_dir);
  unlink(path);
}

/* Big enough for the longest record: three cgroup paths with every byte escaped as \u00XX. */
#define RECORD_MAX (4 * 6 * sizeof(((struct container_cgroups *)0)->dirs[0]))

static int read_process_file(const char *container_dir, const char *name, pid_t *pid, unsigned long long *start_time,
                             struct container_cgroups *cg, bool *nesting) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", container_dir, name);
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  cleanup_free char *text = malloc(RECORD_MAX);
  if (text == NULL) return -1;
  ssize_t n = read(fd, text, RECORD_MAX - 1);
  if (n <= 0) return -1;
  text[n] = '\0';
  const char *p = strstr(text, "\"pid\":");
  const char *t = strstr(text, "\"startTime\":\"");
  if (p == NULL || t == NULL) return -1;
  *pid = (pid_t)strtol(p + 6, NULL, 10);
  *start_time = strtoull(t + 13, NULL, 10);
  memset(cg, 0, sizeof *cg);
  cg->v2 = strstr(text, "\"cgroupV2\":true") != NULL;
  if (nesting != NULL) *nesting = strstr(text, "\"nesting\":true") != NULL;
  const char *g = strstr(text, "\"cgroups\":[");
  if (g != NULL) {
    g += 11;
    /* Only the list's own strings: an empty list is followed by other fields' names. */
    while (cg->count < CGROUP_SLOTS && *g == '"') {
      g = json_read_string(g, cg->dirs[cg->count], sizeof cg->dirs[0]);
      if (g == NULL) break;
      cg->count++;
      if (*g != ',') break;
      g++;
    }
  }
  return *pid > 0 ? 0 : -1;
}

int read_state_file(const char *container_dir, pid_t *pid, unsigned long long *start_time, struct container_cgroups *cg,
                    bool *nesting) {
  return read_process_file(container_dir, "state.json", pid, start_time, cg, nesting);
}

int64_t read_state_timeout(const char *container_dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/state.json", container_dir);
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  cleanup_free char *text = malloc(RECORD_MAX);
  if (text == NULL) return 0;
  ssize_t n = read(fd, text, RECORD_MAX - 1);
  if (n <= 0) return 0;
  text[n] = '\0';
  const char *at = strstr(text, "\"timeoutAtMonotonic\":");
  int64_t deadline = at == NULL ? 0 : strtoll(at + 21, NULL, 10);
  return deadline > 0 ? deadline : 0;
}

int read_launching_file(const char *container_dir, pid_t *pid, unsigned long long *start_time,
                        struct container_cgroups *cg) {
  return read_process_file(container_dir, "launching.json", pid, start_time, cg, NULL);
}

int write_exit_file(const char *container_dir, const char *id, int exit_code, int signal_number, bool oom_killed,
                    bool lost, const struct run_outcome *run) {
  struct json_text t = {0};
  json_raw(&t, "{\"id\":");
  json_string(&t, id);
  if (exit_code >= 0) json_raw(&t, ",\"exitCode\":%d", exit_code);
  else json_raw(&t, ",\"exitCode\":null");
  if (signal_number > 0) json_raw(&t, ",\"signal\":%d", signal_number);
  else json_raw(&t, ",\"signal\":null");
  json_raw(&t, ",\"oomKilled\":%s,\"lost\":%s,\"finishedAt\":%lld", oom_killed ? "true" : "false",
           lost ? "true" : "false", (long long)wall_clock_ms());
  if (run != NULL && run->timed_out) json_raw(&t, ",\"timedOut\":true");
  if (run != NULL && run->captured)
    json_raw(&t, ",\"stdoutBytes\":%lld,\"stderrBytes\":%lld", (long long)run->stdout_bytes,
             (long long)run->stderr_bytes);
  json_raw(&t, "}");
  return write_json(container_dir, "exit.json", &t);
}
