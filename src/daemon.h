/* daemon.h - placeholder: being written. */
