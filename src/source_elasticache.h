/* source_elasticache.h - placeholder: being written. */
