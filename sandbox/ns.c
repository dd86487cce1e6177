/* Namespaces: which ones a plan creates, the clone flags, and the pieces of a fresh namespace
 * the child sets up itself (loopback in a private network namespace). */
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandbox.h"
#include "sb_internal.h"

unsigned long sb_clone_flags(const struct sb_plan *p)
{
	/* The cgroup namespace is entered later, by the child itself, once the supervisor has moved
	 * it into the run's cgroup: its root then is the run's cgroup, not runpilot's. */
	unsigned long f = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
	if (p->netns)
		f |= CLONE_NEWNET;
	return f;
}

size_t sb_namespace_names(const struct sb_plan *p, const char *names[8])
{
	size_t n = 0;
	names[n++] = "user";
	names[n++] = "pid";
	names[n++] = "mount";
	names[n++] = "uts";
	names[n++] = "ipc";
	names[n++] = "cgroup";
	if (p->netns)
		names[n++] = "net";
	return n;
}

int sb_ns_loopback_up(struct rp_err *err)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return rp_err_sys(err, "sandbox: socket for loopback");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
	if (rc == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		rc = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	int saved = errno;
	close(s);
	errno = saved;
	return rc < 0 ? rp_err_sys(err, "sandbox: cannot bring up loopback") : 0;
}
