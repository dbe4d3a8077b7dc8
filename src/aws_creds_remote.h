/* aws_creds_remote.h - placeholder: being written. */
