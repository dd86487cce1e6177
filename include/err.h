/* One error object for the whole program (after crun's libcrun_error_t).
 *
 * The rule:
 * - A function that can fail for a reason worth telling takes `struct rp_err *err` (may be NULL)
 *   and returns -1 (or NULL), having filled err where the failure happened; on success it
 *   returns 0 (or a value) and leaves err alone. Callers add context with rp_err_wrap and pass
 *   the error up; they never print it.
 * - The kind says what went wrong, and nothing else does: RP_ERR_USAGE for what the user asked
 *   (flags, a config, a run that does not exist), RP_ERR_RUNTIME for the work failing.
 * - Only main() prints it ("runpilot: error: <msg>", one line) and picks the exit code from the
 *   kind (rp_err_exit_code): 2 for usage, 1 for runtime. A command whose exit status 1 is an
 *   answer (verify: "changed") exits 2 on any error, as diff(1) does; its table entry says so.
 * - Thin wrappers of one system call (write_all, fsync_path, read_fd_all, the cgroup file
 *   helpers) return -1 with errno, like the call they wrap; their callers turn that into an
 *   rp_err with rp_err_sys.
 * - Something that is not a failure of the caller's request (a limit this host cannot enforce,
 *   a workdir shown read-only) is state or a warning, not an error. */
#ifndef RP_ERR_H
#define RP_ERR_H

enum rp_err_kind {
	RP_ERR_NONE = 0,
	RP_ERR_RUNTIME = 1, /* something failed while doing the work */
	RP_ERR_USAGE = 2,   /* bad flags, bad config, unknown run */
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
/* The process exit code for an error of this kind: 2 for usage, 1 otherwise. */
int rp_err_exit_code(const struct rp_err *e);

#endif
