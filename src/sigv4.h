/* sigv4.h - placeholder: being written. */
