/* The sandbox's steps in one call, for tests that do not need to work between them (the runner
 * does: it records the run while the setup builds the mounts). */
#ifndef SB_TEST_UTIL_H
#define SB_TEST_UTIL_H

#include <signal.h>
#include <string.h>

#include "sandbox.h"
#include "sb_internal.h"

/* sb_release_send + sb_release_wait. Like runpilot, SIGPIPE is ignored: a setup that failed has
 * closed the gate it would be released through. */
static inline int sb_release(struct sb_setup *s, const struct sb_seccomp *filter, struct sb_started *out,
			     struct rp_err *err)
{
	signal(SIGPIPE, SIG_IGN);
	sb_release_send(s, filter);
	return sb_release_wait(s, -1, out, err);
}

/* sb_begin, the plan's filter compiled, sb_release. plan->out_fd, lifeline_fd and status_fd
 * stay open in the caller: close them after. */
static inline int sb_start(const struct sb_plan *p, struct sb_started *out, struct rp_err *err)
{
	struct sb_setup s;
	struct sb_seccomp filter;
	memset(out, 0, sizeof *out);
	out->pid = -1;
	if (sb_begin(p, &s, err) < 0)
		return -1;
	if (sb_seccomp_build(p->seccomp, p->seccomp_deny, p->nseccomp_deny, p->seccomp_log, &filter, err) < 0) {
		sb_abort(&s);
		return -1;
	}
	int rc = sb_release(&s, &filter, out, err);
	sb_seccomp_free(&filter);
	sb_abort(&s); /* released: reaps only what is left of the setup's helpers */
	return rc;
}

/* Build and install a filter in the calling thread in one go (no_new_privs must be set). */
static inline int sb_seccomp_load(enum sb_seccomp_profile p, char **deny, size_t ndeny, bool log,
				  int *notify_fd, struct rp_err *err)
{
	struct sb_seccomp f;
	if (sb_seccomp_build(p, deny, ndeny, log, &f, err) < 0)
		return -1;
	int rc = sb_seccomp_install(&f, log ? notify_fd : NULL, err);
	if (notify_fd && !log)
		*notify_fd = -1;
	sb_seccomp_free(&f);
	return rc;
}

#endif
