/* A regular file written into a running container under a temporary name in its own directory,
 * and renamed over its real name only once whole (owners, mode and times set): a copy that fails
 * midway (its input cut short, a limit, the disk full) leaves the old file, or none, never half of
 * the new one. The temporary file is unlinked on every failure that ends the process by exit()
 * (fail() does) and on SIGTERM, SIGHUP and SIGINT; only SIGKILL leaves one behind, named
 * `.nagaya-partial-<pid>-<n>`. */
#ifndef NAGAYA_EXTRACT_PARTIAL_FILE_H
#define NAGAYA_EXTRACT_PARTIAL_FILE_H

/* Installs the cleanup (an atexit handler and the signal handlers); call once, before any write. */
void partial_file_init(void);

/* Creates an empty 0600 file under a fresh temporary name in dir_fd (O_EXCL, never followed) and
 * returns its fd; the name is remembered until partial_file_commit. entry names the archive entry
 * in errors. */
int partial_file_create(int dir_fd, const char *entry);

/* Renames the temporary file over name in the same directory (a file or symlink there is
 * replaced, never followed; an empty directory is removed first) and forgets it. */
void partial_file_commit(int dir_fd, const char *name, const char *entry);

#endif
