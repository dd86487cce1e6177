/* Namespaces: which ones a plan creates, the clone flags, and the pieces of a fresh namespace
 * the child sets up itself (loopback in a private network namespace). */
#include <errno.h>
#include <poll.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandbox.h"
#include "sb_internal.h"
#include "util.h"

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

int sb_ns_route_watch(struct rp_err *err)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return rp_err_sys(err, "sandbox: netlink socket");
	struct sockaddr_nl a = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE };
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return rp_err_sys(err, "sandbox: netlink bind");
	}
	return fd;
}

/* Ask for the routes we have now; what is added later comes as notifications. */
static int request_routes(int fd)
{
	struct {
		struct nlmsghdr h;
		struct rtmsg r;
	} req = { .h = { .nlmsg_len = sizeof req, .nlmsg_type = RTM_GETROUTE,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
		  .r = { .rtm_family = AF_UNSPEC } };
	return send(fd, &req, sizeof req, 0) == (ssize_t)sizeof req ? 0 : -1;
}

static bool has_default_route(const char *buf, size_t len)
{
	for (const struct nlmsghdr *h = (const void *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
		if (h->nlmsg_type != RTM_NEWROUTE)
			continue;
		const struct rtmsg *r = NLMSG_DATA(h);
		if (r->rtm_dst_len == 0 && r->rtm_table == RT_TABLE_MAIN && r->rtm_type == RTN_UNICAST)
			return true;
	}
	return false;
}

int sb_ns_route_wait(int fd, int timeout_ms, struct rp_err *err)
{
	if (request_routes(fd) < 0)
		return rp_err_sys(err, "sandbox: netlink request");
	double deadline = now_monotonic() + timeout_ms / 1000.0;
	static char buf[16384];
	for (;;) {
		int left = (int)((deadline - now_monotonic()) * 1000);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int n = left > 0 ? poll(&p, 1, left) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return rp_err_set(err, RP_ERR_RUNTIME, "network: outbound: the network did not come up in %d s",
					  timeout_ms / 1000);
		ssize_t got = recv(fd, buf, sizeof buf, 0);
		if (got < 0 && (errno == EINTR || errno == ENOBUFS))
			continue; /* ENOBUFS: notifications dropped; the route may be among them */
		if (got < 0)
			return rp_err_sys(err, "sandbox: netlink");
		if (has_default_route(buf, (size_t)got))
			return 0;
	}
}
