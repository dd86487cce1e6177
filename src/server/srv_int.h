/* What the files of src/server's HTTP side share: the server, one request, the route table. */
#ifndef RP_SRV_INT_H
#define RP_SRV_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "../web/mhd_api.h"
#include "err.h"
#include "server.h"

struct cJSON;
struct pg_db;

#define SRV_BODY_MAX (1024 * 1024) /* a larger request body is refused (413) */
#define SRV_JSON_DEPTH 32          /* a body nested deeper is refused (400) */
#define SRV_CAPS 3
#define SRV_RUN_BODY_MAX (64 * 1024 * 1024) /* a pushed run's payload (ROUTE_BIG) */
#define SRV_BLOB_MAX_DEFAULT (1ULL << 30)     /* one uploaded blob, unless --max-blob */

/* How a route takes its body. */
enum {
	ROUTE_BIG = 1,    /* up to SRV_RUN_BODY_MAX, in memory */
	ROUTE_STREAM = 2, /* up to the blob cap, spooled to an unlinked file; authorized before it is read */
};

/* The minimum a route asks of its caller. */
enum srv_role {
	ROLE_ANY,          /* nobody needs to be logged in */
	ROLE_AUTH,         /* any account logged in */
	ROLE_VIEWER,       /* the project's roles (members), from the pattern's {project} */
	ROLE_EDITOR,
	ROLE_ADMIN,
	ROLE_SERVER_ADMIN, /* accounts.is_admin */
};

struct srv {
	const struct rp_mhd_api *mhd;
	struct MHD_Daemon *daemon;
	char *db_url;
	char *url;          /* http(s)://HOST:PORT */
	bool tls;
	int listen_fd;
	pthread_mutex_t lock;
	int inflight;       /* requests between their first call and their completion */
	struct pg_db **dbs; /* every worker's connection, closed at the stop */
	size_t ndbs;
	struct throttle *throttle;
	char *data_dir;
	unsigned long long max_blob;
};

/* The caller, once authenticated. */
struct srv_caller {
	long long account_id;
	char *name;
	bool is_admin;
	bool by_session;    /* a session cookie (changes need CSRF); else a Bearer token */
	long long token_id; /* the Bearer token's id */
	char *session_hash;
};

struct srv_req {
	struct srv *srv;
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	char address[64];
	bool answered;
	bool too_big;
	char *body;
	size_t body_len, body_cap;
	unsigned long long body_max;   /* the most this request's body may have */
	const struct srv_route *route; /* found at the first call */
	bool path_known;        /* no route, but the path is one of another method */
	bool checked;           /* authorized already (ROUTE_STREAM) */
	int spool_fd;           /* ROUTE_STREAM's body, -1 when none */
	unsigned long long spooled;
	struct srv_caller who;  /* account_id 0: anonymous */
	bool bad_credentials;   /* a token or cookie was given and is not valid */
	const char *cap_name[SRV_CAPS]; /* the pattern's {NAME} segments, where they start in it */
	char *cap[SRV_CAPS];            /* what they matched */
	long long project_id;   /* resolved from {project} */
	const char *project;
	const char *role;       /* the caller's role in it */
};

typedef int (*srv_handler)(struct srv_req *r);

struct srv_route {
	const char *method;
	const char *pattern; /* segments; {NAME} matches one */
	enum srv_role role;
	srv_handler fn;
	unsigned flags;      /* ROUTE_BIG, ROUTE_STREAM */
};

extern const struct srv_route srv_routes[];
extern const size_t srv_nroutes;
const char *srv_role_name(enum srv_role role);

/* http.c */
/* This worker thread's connection (opened at its first use); NULL with err. */
struct pg_db *srv_db(struct srv_req *r, struct rp_err *err);
const char *srv_cap(struct srv_req *r, const char *name);
const char *srv_header(struct srv_req *r, const char *name);
const char *srv_arg(struct srv_req *r, const char *name);
/* The body as JSON (an object), or NULL after answering 400. */
struct cJSON *srv_body_json(struct srv_req *r);
int srv_reply(struct srv_req *r, unsigned status, struct MHD_Response *resp);
int srv_reply_json(struct srv_req *r, unsigned status, struct cJSON *json); /* frees json */
int srv_reply_error(struct srv_req *r, unsigned status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int srv_reply_empty(struct srv_req *r, unsigned status);
/* 500 for err (the message is logged, the client sees a generic one). */
int srv_reply_internal(struct srv_req *r, const struct rp_err *err);
void srv_audit(struct srv_req *r, const char *action, const char *project, struct cJSON *detail);
/* Audit a refusal ("denied") of this request with its status. */
void srv_deny_audit(struct srv_req *r, unsigned status, const char *project);

/* sync_routes.c: push and pull (server_push.h) over HTTP */
int srv_runs_missing(struct srv_req *r);
int srv_blobs_missing(struct srv_req *r);
int srv_blob_upload(struct srv_req *r);
int srv_blob_download(struct srv_req *r);
int srv_run_push(struct srv_req *r);
int srv_run_pull(struct srv_req *r);
int srv_runs_list(struct srv_req *r);

/* login.c: the login/logout handlers, the session cookie, the throttle */
int srv_login(struct srv_req *r);
int srv_logout(struct srv_req *r);
/* Find the caller from a Bearer token or the session cookie; false when credentials were given
 * but are not valid. */
int srv_authenticate(struct srv_req *r, struct rp_err *err);
struct throttle *throttle_new(void);
void throttle_free(struct throttle *t);

#endif
