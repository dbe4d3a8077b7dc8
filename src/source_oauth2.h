/* source_oauth2.h - placeholder: being written. */
