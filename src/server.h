/* server.h - placeholder: being written. */
