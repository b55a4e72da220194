/* Turning a parsed launch request into a launch_spec. */
#ifndef NAGAYA_LAUNCH_REQUEST_H
#define NAGAYA_LAUNCH_REQUEST_H

#include "launch_spec.h"
#include "protocol.h"

/* Fills spec from a launch request (strings point into the message); -1 with err on bad input. */
int launch_spec_from_message(const struct message *m, struct launch_spec *spec, struct step_error *err);

/* Frees what launch_spec_from_message allocated. */
void launch_spec_free(struct launch_spec *spec);

#endif
