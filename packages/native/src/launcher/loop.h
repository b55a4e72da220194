/* The daemon's event loop: one epoll set over the socket, signals, console logs, clients, launching
 * children, containers and exec sessions, until shutdown is done or nobody can reach it. */
#ifndef NAGAYA_LOOP_H
#define NAGAYA_LOOP_H

/* Returns the daemon's exit status. */
int run_loop(int listen_fd, int signal_fd, int logs_fd, const char *socket_path);

#endif
