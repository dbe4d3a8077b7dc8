/* token_json.h - placeholder: being written. */
