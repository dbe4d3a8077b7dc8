/* notify.h - the systemd notification protocol (sd_notify).
 *
 * Every function is a no-op when NOTIFY_SOCKET is unset, so tokend behaves
 * the same under systemd, in a container and in a terminal.
 */
#ifndef TOKEND_NOTIFY_H
#define TOKEND_NOTIFY_H

#include <stdint.h>

void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
void notify_watchdog(void);
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval systemd expects (WATCHDOG_USEC) in microseconds, or
 * 0 when the watchdog is off. */
uint64_t notify_watchdog_usec(void);

/* Listening sockets passed by systemd socket activation: the first fd, or
 * -1 when none was passed. More than one is refused with -2. */
int notify_listen_fd(void);

#endif
