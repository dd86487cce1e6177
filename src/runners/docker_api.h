/* docker_api.h: a small client of the Docker Engine API over its unix socket (libcurl, loaded with
 * dlopen on first use), for runner_docker.c. No docker CLI is run. */
#ifndef RP_DOCKER_API_H
#define RP_DOCKER_API_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* The API version every request is pinned to (Docker 20.10 and later serve it). */
#define DK_API_VERSION "1.41"

/* Where the engine is: DOCKER_HOST, else the docker CLI's current context, else the default. */
struct dk_engine {
	char *host;     /* "unix:///var/run/docker.sock" */
	char *socket;   /* "/var/run/docker.sock" */
	char *source;   /* "DOCKER_HOST", "context <name>", "default" */
};

/* Resolve the endpoint (no connection yet). Only unix:// endpoints are supported. */
int dk_engine_find(struct dk_engine *e, struct rp_err *err);
/* An engine at a known socket path (a leftover's). */
void dk_engine_at(struct dk_engine *e, const char *socket);
void dk_engine_free(struct dk_engine *e);

struct dk_response {
	long status;    /* HTTP status */
	char *body;     /* NUL-terminated, may be empty */
	size_t len;
};

/* One request: METHOD /v<DK_API_VERSION><path>, body as JSON (or NULL). 0 with the status in r
 * (any status), -1 with err when the engine could not be reached or did not answer within
 * timeout_ms (0: none): "daemon not reachable at <host>: ..." or "permission denied on the socket". */
int dk_call(const struct dk_engine *e, const char *method, const char *path, const char *body, long timeout_ms,
	    struct dk_response *r, struct rp_err *err);
void dk_response_free(struct dk_response *r);
/* The engine's message of an error response ({"message": ...}), or "HTTP <status>". Owned by r. */
const char *dk_message(struct dk_response *r);

/* Attach to a created container's stdout and stderr and copy them (demultiplexed) to out_fd
 * until they end; once the engine accepted the attach, one byte is written to ready_fd (the
 * container may be started then without losing output). 0 at the end of the stream. */
int dk_attach(const struct dk_engine *e, const char *container, int out_fd, int ready_fd, struct rp_err *err);

/* The pid of the process serving the socket (the engine, through SO_PEERCRED), -1 if unknown. */
pid_t dk_engine_pid(const struct dk_engine *e);

#endif
