/* source_rds.h - placeholder: being written. */
