/* notify.h - placeholder: being written. */
