/* Start-up after a launcher restart: containers found alive, dead or half-launched. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroups.h"
#include "log_watch.h"
#include "recovery.h"
#include "registry.h"
#include "state_files.h"
#include "syscalls.h"
#include "veth.h"

/* A pidfd for pid if it is still the process that started at start_time (checked again after
 * opening, in case the pid was reused in between); -1 if that process is gone. */
static int open_same_process(pid_t pid, unsigned long long start_time) {
  int pidfd = process_start_time(pid) == start_time ? sys_pidfd_open(pid) : -1;
  if (pidfd >= 0 && process_start_time(pid) != start_time) {
    close(pidfd);
    pidfd = -1;
  }
  return pidfd;
}

/* Removes the host veth of a container that is gone (its netns takes it too, but later). */
static void remove_veth_of(const char *container_dir) {
  char name[16];
  if (read_veth_file(container_dir, name) == 0) veth_delete(name);
}

/* A child the last launcher cloned but never reported launched (it died in between): the launch
 * was not acknowledged, so it will be tried again, and the child must not live on beside the
 * next one as a second init of the same id and slice. Kill it, wait for it, record it as lost. */
static void abandon_half_launch(const char *container_dir, const char *id) {
  pid_t pid;
  unsigned long long start_time;
  struct container_cgroups cg;
  if (read_launching_file(container_dir, &pid, &start_time, &cg) < 0) return;
  int pidfd = open_same_process(pid, start_time);
  if (pidfd >= 0) {
    sys_pidfd_send_signal(pidfd, SIGKILL);
    struct pollfd exited = {.fd = pidfd, .events = POLLIN};
    poll(&exited, 1, 2000); /* not our child: no waitid, but the pidfd turns readable at exit */
    close(pidfd);
  }
  cgroups_remove(&cg);
  remove_veth_of(container_dir);
  write_exit_file(container_dir, id, -1, SIGKILL, false, true, NULL);
  remove_launching_file(container_dir);
}

/* After a launcher restart: containers still alive (same pid and start time) are watched again
 * through a pidfd; they are no longer our children, so how they end is recorded as lost. Those
 * that died meanwhile get an exit.json saying so; half-launched ones are killed first. */
void recover_containers(const char *state_dir) {
  char dir_path[4096];
  snprintf(dir_path, sizeof dir_path, "%s/containers", state_dir);
  DIR *dir = opendir(dir_path);
  if (dir == NULL) return;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char container_dir[4400], exit_path[4500];
    snprintf(container_dir, sizeof container_dir, "%s/%s", dir_path, e->d_name);
    snprintf(exit_path, sizeof exit_path, "%s/exit.json", container_dir);
    pid_t pid;
    unsigned long long start_time;
    struct container_cgroups cg;
    bool nesting = false;
    bool has_state = read_state_file(container_dir, &pid, &start_time, &cg, &nesting) == 0;
    if (!has_state && access(exit_path, F_OK) != 0) {
      abandon_half_launch(container_dir, e->d_name); /* nothing to do without launching.json */
      continue;
    }
    remove_launching_file(container_dir); /* left by a launcher that died right after state.json */
    if (!has_state || access(exit_path, F_OK) == 0) continue;
    int pidfd = open_same_process(pid, start_time);
    if (pidfd < 0) {
      cgroups_remove(&cg);
      remove_veth_of(container_dir);
      write_exit_file(container_dir, e->d_name, -1, 0, false, true, NULL);
      continue;
    }
    fcntl(pidfd, F_SETFD, FD_CLOEXEC);
    struct container *k = calloc(1, sizeof *k);
    if (k == NULL) abort();
    k->proc.pid = pid;
    k->proc.pidfd = pidfd;
    k->proc.handshake_fd = -1;
    k->proc.start_time = start_time;
    k->proc.cgroups = cg;
    k->orphan = true;
    k->nesting = nesting;
    run_io_init(&k->proc.io); /* the pipes of a run died with the last launcher */
    /* A run's timeout holds across launchers: re-armed as it was (past already: it fires at once). */
    k->timeout_at_ms = k->timeout_deadline_ms = read_state_timeout(container_dir);
    if (add_container(k) < 0) { /* left running unwatched; the next launcher adopts it */
      fprintf(stderr, "nagaya-launcher: cannot watch container %s: %s\n", e->d_name, strerror(errno));
      close(pidfd);
      free(k);
      continue;
    }
    k->id = strdup(e->d_name);
    k->dir = strdup(container_dir);
    char log_path[4500];
    snprintf(log_path, sizeof log_path, "%s/console.log", container_dir);
    watch_log(k, log_path);
  }
  closedir(dir);
}
