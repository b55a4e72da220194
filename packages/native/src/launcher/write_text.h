/* Writing a string to a file in one write(2), as kernel interface files (cgroup, uid_map) need. */
#ifndef NAGAYA_WRITE_TEXT_H
#define NAGAYA_WRITE_TEXT_H

/* Writes all of text to fd in one write; a short write fails with EIO. 0, or -1 with errno. */
int write_text_fd(int fd, const char *text);

/* Opens the existing file at path for writing and writes text to it as write_text_fd does;
 * errno is that of the failure, not of the close. */
int write_text_file(const char *path, const char *text);

#endif
