/* The capabilities a container process keeps: Docker's default 14, in every set. */
#ifndef NAGAYA_CAPABILITIES_H
#define NAGAYA_CAPABILITIES_H

/* Learns the kernel's highest capability number; called once at launcher start. -1 with errno. */
int capabilities_init(void);

/* In a child: drops every capability but the kept ones from the bounding set. The bounding set
 * only limits what execve grants, so this may come before the child's own setup (the container's
 * first process does it while it waits for the parent). Async-signal-safe; -1 with errno. */
int capabilities_drop_bounding(void);

/* In a child about to exec, after capabilities_drop_bounding: clears the ambient set and sets
 * permitted, effective and inheritable to the kept ones. Async-signal-safe. On failure returns -1
 * with errno and names the failed call in *failed_call. */
int capabilities_limit_to_default(const char **failed_call);

#endif
