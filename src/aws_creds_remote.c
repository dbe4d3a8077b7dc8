/* aws_creds_remote.c - placeholder: being written. */
