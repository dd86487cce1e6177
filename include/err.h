/* One error object for the whole program (after crun's libcrun_error_t).
 * A function that fails fills it where the failure happens and returns -1;
 * only main() prints it ("runpilot: error: ...") and picks the exit code. */
#ifndef RP_ERR_H
#define RP_ERR_H

enum rp_err_kind {
	RP_ERR_NONE = 0,
	RP_ERR_RUNTIME = 1, /* exit 1: something failed while doing the work */
	RP_ERR_USAGE = 2,   /* exit 2: bad flags, bad config, unknown run */
};

struct rp_err {
	int kind;        /* enum rp_err_kind */
	int sys_errno;   /* errno at the failure, 0 if none */
	char msg[1024];
};

/* Fill e (if not NULL) and return -1, so callers can `return rp_err_set(...)`. */
int rp_err_set(struct rp_err *e, int kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Like rp_err_set(RP_ERR_RUNTIME) with ": strerror(errno)" appended. */
int rp_err_sys(struct rp_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prefix an already-filled message with context: "ctx: old message". */
int rp_err_wrap(struct rp_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void rp_err_clear(struct rp_err *e);

#endif
