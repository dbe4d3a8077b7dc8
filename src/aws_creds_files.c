/* aws_creds_files.c - placeholder: being written. */
