/* http_client.c - placeholder: being written. */
