/* Requests about a container still launching wait until its launch is answered. */
#ifndef NAGAYA_DEFERRED_H
#define NAGAYA_DEFERRED_H

#include <stdbool.h>
#include <stddef.h>

#include "protocol.h"
#include "registry.h"

void replay_deferred(struct container *k);

/* True if the request (op, parsed as m, received as raw) was kept for later. */
bool defers_until_launched(struct client *c, const char *op, const struct message *m, const char *raw, size_t len);

#endif
