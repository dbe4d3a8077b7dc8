/* token.c - placeholder: being written. */
