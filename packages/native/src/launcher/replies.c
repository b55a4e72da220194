/* Sending replies to clients without ever blocking on them. */
#define _GNU_SOURCE
#include <sys/socket.h>

#include "replies.h"

void send_to(struct client *c, const struct reply *r) {
  if (c == NULL || c->closed) return;
  if (send(c->fd, r->buf, r->len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) c->closed = true; /* slow or gone */
}

void reply_error(struct client *c, const char *req, const struct step_error *err) {
  struct reply r = {0};
  reply_add(&r, "type", "error");
  reply_add(&r, "req", req);
  reply_add(&r, "step", err->step);
  reply_add(&r, "syscall", err->syscall);
  reply_addf(&r, "errno", "%d", err->err);
  send_to(c, &r);
  reply_free(&r);
}

void reply_ok(struct client *c, const char *req) {
  struct reply r = {0};
  reply_add(&r, "type", "ok");
  reply_add(&r, "req", req);
  send_to(c, &r);
  reply_free(&r);
}

void broadcast(const struct reply *r) {
  for (struct client *c = clients; c; c = c->next) send_to(c, r);
}
