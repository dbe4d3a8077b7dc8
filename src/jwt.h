/* jwt.h - placeholder: being written. */
