/* aws_creds_files.h - placeholder: being written. */
