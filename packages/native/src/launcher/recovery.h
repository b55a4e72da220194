/* What a restarted launcher finds in its state directory. */
#ifndef NAGAYA_RECOVERY_H
#define NAGAYA_RECOVERY_H

void recover_containers(const char *state_dir);

#endif
