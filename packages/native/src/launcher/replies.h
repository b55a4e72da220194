/* Answers to clients. A client that is slow or gone is marked closed, never waited for. */
#ifndef NAGAYA_REPLIES_H
#define NAGAYA_REPLIES_H

#include "errors.h"
#include "protocol.h"
#include "registry.h"

/* Each does nothing for a NULL or closed client. */
void send_to(struct client *c, const struct reply *r);
void reply_error(struct client *c, const char *req, const struct step_error *err);
void reply_ok(struct client *c, const char *req);

/* Sends r to every client. */
void broadcast(const struct reply *r);

#endif
