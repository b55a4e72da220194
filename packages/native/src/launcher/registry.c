/* The daemon's lists, and how their entries end. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console_log.h"
#include "registry.h"

struct client *clients;
struct container *containers;
struct pending_exec *execs;
bool shutting_down;

struct container *find_container(const char *id) {
  for (struct container *k = containers; k; k = k->next)
    if (!k->exited && strcmp(k->id, id) == 0) return k;
  return NULL;
}

struct client *client_by_serial(unsigned long serial) {
  for (struct client *c = clients; c; c = c->next)
    if (c->serial == serial) return c;
  return NULL;
}

/* A container (or launch) is over: its log is checked one last time (no writer is left), no more
 * watched; prune() frees it. */
void mark_exited(struct container *k) {
  if (k->log_path != NULL) console_log_rotate_if_full(k->log_path);
  console_log_unwatch(k->log_wd);
  k->log_wd = -1;
  k->log_rewatch_at = 0;
  k->exited = true;
}

void prune(void) {
  for (struct client **pc = &clients; *pc;) {
    struct client *c = *pc;
    if (c->closed) {
      close(c->fd);
      *pc = c->next;
      free(c);
    } else pc = &c->next;
  }
  for (struct container **pk = &containers; *pk;) {
    struct container *k = *pk;
    if (k->exited) {
      *pk = k->next;
      free(k->id);
      free(k->dir);
      free(k->log_path);
      free(k);
    } else pk = &k->next;
  }
  for (struct pending_exec **pp = &execs; *pp;) {
    struct pending_exec *p = *pp;
    if (p->done) {
      *pp = p->next;
      free(p);
    } else pp = &p->next;
  }
}
