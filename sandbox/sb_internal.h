/* Pieces shared by the files of sandbox/ (and their unit tests); not part of sandbox.h. */
#ifndef RP_SB_INTERNAL_H
#define RP_SB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"
#include "sandbox.h"

/* userns.c: write the uid/gid maps of pid (0: the caller, inside the new user namespace),
 * mapping uid and gid to themselves. */
int sb_userns_write_maps(pid_t pid, uid_t uid, gid_t gid, struct rp_err *err);
/* mounts.c: build the filesystem view in the calling child, which must be in a new mount
 * namespace (checked against parent_mntns before the first mount); fills st's workdir facts. */
int sb_mounts_build(const struct sb_plan *plan, ino_t parent_mntns, struct sb_started *st,
		    struct rp_err *err);
/* The inode of the calling process's mount namespace (0 if unknown). */
ino_t sb_mntns_inode(void);
/* ns.c: bring up lo in a fresh network namespace; the clone flags of a plan. */
int sb_ns_loopback_up(struct rp_err *err);
unsigned long sb_clone_flags(const struct sb_plan *plan);

/* sandbox.c: close every fd above 2 but the listed ones (for processes that never exec). */
void sb_close_all_except(int *keep, size_t n);
/* seccomp.c: in the job, hand the filter's notification fd to the listener. 0 or -1. */
int sb_seccomp_send_notify_fd(int sock, int notify_fd);

#endif
