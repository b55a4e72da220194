/* Requests about a launching container, kept and replayed in order once it is answered. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "deferred.h"
#include "requests.h"

/* Keeps a request about a launching container until its launch is answered. */
static void defer_request(struct container *k, struct client *c, const char *raw, size_t len) {
  struct deferred_request *d = malloc(sizeof *d + len);
  if (d == NULL) abort();
  d->client_serial = c->serial;
  d->len = len;
  d->next = NULL;
  memcpy(d->buf, raw, len);
  struct deferred_request **tail = &k->deferred;
  while (*tail != NULL) tail = &(*tail)->next;
  *tail = d;
}

/* Answers what was asked about a container while it was launching, in the order it was asked:
 * as if the requests had queued behind the launch.
 * A client that disconnected meanwhile still has its requests carried out, unanswered. */
void replay_deferred(struct container *k) {
  while (k->deferred != NULL) {
    struct deferred_request *d = k->deferred;
    k->deferred = d->next;
    struct client gone = {.fd = -1, .serial = d->client_serial, .closed = true};
    struct client *c = client_by_serial(d->client_serial);
    handle_message(c != NULL ? c : &gone, d->buf, d->len);
    free(d);
  }
}

/* Stop, kill and exec name a container; one still launching gets them once it is answered. */
bool defers_until_launched(struct client *c, const char *op, const struct message *m, const char *raw, size_t len) {
  if (strcmp(op, "stop") != 0 && strcmp(op, "kill") != 0 && strcmp(op, "exec") != 0) return false;
  const char *id = message_get(m, "id");
  struct container *k = id ? find_container(id) : NULL;
  if (k == NULL || !k->launching) return false;
  defer_request(k, c, raw, len);
  return true;
}
