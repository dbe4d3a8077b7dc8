/* http_url.h - URL policy for http_client, parsed with curl's own URL API
 * so that what is checked is exactly what curl connects to.
 */
#ifndef TOKEND_HTTP_URL_H
#define TOKEND_HTTP_URL_H

#include <curl/curl.h>

#include "err.h"

/* Parses url and applies the policy of http_client_url_allowed. NULL with
 * err (ERR_CONFIG) when refused; free with curl_url_cleanup. */
CURLU *http_url_parse(const char *url, struct err *err);

/* "METHOD scheme://host[:port]/path": no query or fragment, so safe for
 * messages. The caller frees it. */
char *http_url_where(CURLU *u, const char *method);

#endif
