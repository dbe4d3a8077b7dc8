/* aws_creds.c - placeholder: being written. */
