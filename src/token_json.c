/* token_json.c - placeholder: being written. */
