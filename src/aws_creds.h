/* aws_creds.h - placeholder: being written. */
