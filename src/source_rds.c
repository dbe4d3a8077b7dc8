/* source_rds.c - placeholder: being written. */
