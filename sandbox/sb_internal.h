/* Pieces shared by the files of sandbox/ (and their unit tests); not part of sandbox.h. */
#ifndef RP_SB_INTERNAL_H
#define RP_SB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"
#include "sandbox.h"

/* userns.c: ids inside a user namespace and what they are on the host. */
struct sb_ids {
	uid_t uid, host_uid;
	gid_t gid, host_gid;
};
/* Write the uid/gid maps of pid (0: the caller, inside the new user namespace). */
int sb_userns_write_maps(pid_t pid, const struct sb_ids *ids, struct rp_err *err);
/* In the new user namespace, once its maps are written: take the mapped ids. */
int sb_userns_become(uid_t uid, gid_t gid, struct rp_err *err);
/* A user namespace mapping ids->uid/gid to host_uid/host_gid and nothing else, for idmapped
 * mounts: its fd, or -1 with err. */
int sb_userns_idmap_fd(const struct sb_ids *ids, struct rp_err *err);
/* trees.c: idmapped mounts of the host paths a plan's setup needs, when the job's host ids are
 * not the caller's (sb_plan). sb_trees_needed says whether; sb_trees_start forks the process
 * that makes them (in a mount namespace of its own, as the caller) and sends them on sock to
 * the setup child; returns its pid (the caller
 * reaps it) or -1 with err. userns_fd: the setup child's user namespace, the mapping. */
bool sb_trees_needed(const struct sb_plan *plan);
pid_t sb_trees_start(const struct sb_plan *plan, int userns_fd, int sock, struct rp_err *err);
/* In the setup child, in the staging root: receive the trees and mount each under /trees
 * (trees.c); sb_tree_path gives where, or NULL when that source has none (then the setup
 * reaches the host path under the old root). why: the reason a source is not idmapped. */
enum sb_tree_kind { SB_TREE_ROOTFS, SB_TREE_WORKDIR, SB_TREE_RUN, SB_TREE_OUTPUT, SB_TREE_BIND0 };
struct sb_trees {
	size_t n;
	char **path;             /* [kind or SB_TREE_BIND0 + bind index]: where it is mounted */
	bool *idmapped;
	int *error;              /* errno of the idmapping (0: idmapped) or of the clone itself */
};
int sb_trees_receive(const struct sb_plan *plan, int sock, struct sb_trees *out, struct rp_err *err);
const char *sb_tree_path(const struct sb_trees *t, size_t i);
void sb_trees_free(struct sb_trees *t);
/* mounts.c: build the filesystem view in the calling child, which must be in a new mount
 * namespace (checked against parent_mntns before the first mount), with the trees from
 * trees_sock (-1: none, sb_trees_needed); fills st's workdir facts. */
int sb_mounts_build(const struct sb_plan *plan, ino_t parent_mntns, int trees_sock, struct sb_started *st,
		    struct rp_err *err);
/* The inode of the calling process's mount namespace (0 if unknown). */
ino_t sb_mntns_inode(void);
/* ns.c: bring up lo in a fresh network namespace; the clone flags of a plan. */
int sb_ns_loopback_up(struct rp_err *err);
/* Network "outbound": watch the namespace's routes from now on (a netlink socket, or -1 with
 * err); then wait until it has a default route, at most timeout_ms. */
int sb_ns_route_watch(struct rp_err *err);
int sb_ns_route_wait(int fd, int timeout_ms, struct rp_err *err);
unsigned long sb_clone_flags(const struct sb_plan *plan);

/* fdpass.c: a message of len bytes with one fd (-1: none) over a unix socket: 0 or -1. Receive
 * returns what recvmsg did, *fd the fd that came (close-on-exec) or -1. */
int sb_fd_send(int sock, const void *data, size_t len, int fd);
ssize_t sb_fd_receive(int sock, void *data, size_t len, int *fd);
/* sandbox.c: close every fd above 2 but the listed ones (for processes that never exec). */
void sb_close_all_except(int *keep, size_t n);
/* seccomp.c: compile a filter with libseccomp (sb_seccomp_build takes a prebuilt one when it
 * can: the profiles without deny names or log, compiled at build time by
 * mk/seccomp-prebuild.c into sb_seccomp_prebuilt). */
int sb_seccomp_compile(enum sb_seccomp_profile p, char **deny, size_t ndeny, bool log, struct sb_seccomp *out,
		       struct rp_err *err);
struct sb_seccomp_prebuilt_prog {
	const struct sock_filter *insns;
	unsigned short len;
	unsigned flags;
};
struct sb_seccomp_prebuilt {
	enum sb_seccomp_profile profile;
	struct sb_seccomp_prebuilt_prog arguments, errno_prog;
};
/* seccomp.c: in the job, hand the filter's notification fd to the listener. 0 or -1. */
int sb_seccomp_send_notify_fd(int sock, int notify_fd);

#endif
