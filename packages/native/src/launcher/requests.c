/* Reads a request and hands it to its handler (or keeps it, for a container still launching). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "deferred.h"
#include "replies.h"
#include "requests.h"

void handle_message(struct client *c, const char *raw, size_t len) {
  /* Parsing splits fields in place: work on a copy so the request can be kept as received. */
  cleanup_free char *buf = malloc(len + 1);
  cleanup_free struct message *m = malloc(sizeof *m);
  if (buf == NULL || m == NULL) abort();
  memcpy(buf, raw, len);
  buf[len] = '\0';
  if (message_parse(buf, len, m) < 0) return;
  const char *op = message_get(m, "op");
  const char *req = message_get(m, "req");
  if (req == NULL) req = "0";
  if (op == NULL) op = "";
  if (defers_until_launched(c, op, m, raw, len)) return;
  if (strcmp(op, "launch") == 0) handle_launch(c, req, m);
  else if (strcmp(op, "stop") == 0) handle_signal(c, req, m, true);
  else if (strcmp(op, "kill") == 0) handle_signal(c, req, m, false);
  else if (strcmp(op, "exec") == 0) handle_exec(c, req, m);
  else if (strcmp(op, "exec-input") == 0) handle_exec_input(c, req, m);
  else if (strcmp(op, "exec-resize") == 0) handle_exec_resize(c, req, m);
  else if (strcmp(op, "exec-kill") == 0) handle_exec_kill(c, req, m);
  else if (strcmp(op, "list") == 0) handle_list(c, req);
  else if (strcmp(op, "cgroup-roots") == 0) handle_cgroup_roots(c, req);
  else if (strcmp(op, "prune-cgroups") == 0) handle_prune_cgroups(c, req);
  else if (strcmp(op, "bound-pids") == 0) handle_bound_pids(c, req, m);
  else if (strcmp(op, "shutdown") == 0) handle_shutdown(c, req);
  else {
    struct step_error err;
    step_fail(&err, "request", op, EOPNOTSUPP);
    reply_error(c, req, &err);
  }
}
