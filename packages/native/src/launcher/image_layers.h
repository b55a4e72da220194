/* The image layers of a launch, made ready for the child's overlay. */
#ifndef NAGAYA_IMAGE_LAYERS_H
#define NAGAYA_IMAGE_LAYERS_H

#include <sys/types.h>

#include "launch_spec.h"

/* Fills layer_fds[0..spec->layer_count) with one fd per layer, topmost first, for "lowerdir+":
 * a detached idmapped mount of each shared layer directory, or the shifted copy's directory.
 * On failure nothing stays open. */
int open_image_layers(pid_t child, const struct launch_spec *spec, int *layer_fds, struct step_error *err);

#endif
