/* Removing entries from the daemon's singly linked lists (clients, containers, exec sessions). */
#ifndef NAGAYA_LIST_SWEEP_H
#define NAGAYA_LIST_SWEEP_H

/* Unlinks every entry of the list at head (linked through `next`) for which is_over(entry) holds,
 * and hands it to release(entry). */
#define LIST_SWEEP(head, type, is_over, release) \
  do {                                           \
    for (type **at_ = &(head); *at_ != NULL;) {  \
      type *entry_ = *at_;                       \
      if (is_over(entry_)) {                     \
        *at_ = entry_->next;                     \
        release(entry_);                         \
      } else {                                   \
        at_ = &entry_->next;                     \
      }                                          \
    }                                            \
  } while (0)

#endif
