/* source_elasticache.c - placeholder: being written. */
