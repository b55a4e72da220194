/* Requests about cgroups: where they are rooted, pruning strays, capping a container's pids. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "cgroups.h"
#include "replies.h"
#include "requests.h"
#include "state_files.h"

static void add_cgroup_root(const char *root, void *arg) { reply_add(arg, "cgroup_root", root); }

/* Where this launcher's containers get their cgroups (asked rarely: list replies stay small). */
void handle_cgroup_roots(struct client *c, const char *req) {
  struct reply r = {0};
  reply_add(&r, "type", "cgroup-roots");
  reply_add(&r, "req", req);
  cgroups_each_root(add_cgroup_root, &r);
  send_to(c, &r);
  reply_free(&r);
}

/* Caps the pids of a running container that has no pids bound of its own (see cgroups_bound_pids). */
void handle_bound_pids(struct client *c, const char *req, const struct message *m) {
  struct step_error err = {0};
  const char *id = message_get(m, "id");
  struct container *k = id ? find_container(id) : NULL;
  int64_t max = 0;
  if (k == NULL || k->launching) step_fail(&err, "bound-pids", "lookup", ESRCH);
  else if (request_i64(m, "pids", 0, 1, INT64_MAX, &max, &err) == 0 && max == 0)
    step_fail(&err, "parse-request", "pids", EINVAL); /* absent */
  if (err.err != 0 || cgroups_bound_pids(k->id, k->proc.pid, max, &k->proc.cgroups, &err) < 0) {
    reply_error(c, req, &err);
    return;
  }
  write_state_file(k->dir, k->id, k->proc.pid, k->proc.start_time, &k->proc.cgroups, k->nesting,
                   k->timeout_deadline_ms);
  reply_ok(c, req);
}

static bool has_container(const char *id) { return find_container(id) != NULL; }

static void add_removed(const char *dir, void *arg) {
  if (arg != NULL) reply_add(arg, "removed", dir);
}

void prune_stray_cgroups(struct reply *r) { cgroups_prune(has_container, add_removed, r); }

/* Removes cgroups no container of ours owns (left by a launcher that died before removing them).
 * Done here, not by the client: between our mkdir and attach of a launch nobody else may rmdir. */
void handle_prune_cgroups(struct client *c, const char *req) {
  struct reply r = {0};
  reply_add(&r, "type", "pruned");
  reply_add(&r, "req", req);
  prune_stray_cgroups(&r);
  send_to(c, &r);
  reply_free(&r);
}
