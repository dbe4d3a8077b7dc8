/* source_oauth2.c - placeholder: being written. */
