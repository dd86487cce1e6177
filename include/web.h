/* The web layer: `runpilot ui`'s HTTP server (libmicrohttpd, loaded on first use) over a
 * ui_source (include/ui_source.h), in the shapes docs/ui.md gives. It prints nothing: the face
 * prints the URL web_url() gives and stops the server on a signal. */
#ifndef RP_WEB_H
#define RP_WEB_H

#include <stdbool.h>

#include "err.h"

struct ui_source;
struct web_server;

#define WEB_PORT_DEFAULT 7007
#define WEB_PORT_LAST 7027 /* without an explicit port, the first free one of 7007..7027 */

struct web_options {
	const char *listen; /* an IPv4 or IPv6 address; NULL: 127.0.0.1 */
	int port;           /* 0: any free port; ignored when !port_explicit */
	bool port_explicit; /* a taken port is an error (else the next free one is tried) */
};

/* Serve src (borrowed: it must outlive the server) on its worker threads until web_stop. */
int web_start(struct ui_source *src, const struct web_options *o, struct web_server **out, struct rp_err *err);
/* http://ADDR:PORT/?token=TOKEN */
const char *web_url(const struct web_server *s);
/* Stop serving: open streams end, the threads are joined, everything is freed. */
void web_stop(struct web_server *s);

#endif
