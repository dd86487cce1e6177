/* Capabilities: everything dropped from every set (bounding, effective, permitted, inheritable,
 * ambient) except what sandbox.capabilities keeps; kept ones are also raised in the ambient set
 * so they survive exec for a non-root uid. no_new_privs is set so setuid binaries and file
 * capabilities cannot give anything back. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "sandbox.h"
#include "util.h"

int sb_caps_parse(char **names, size_t n, uint64_t *mask, struct rp_err *err)
{
	*mask = 0;
	for (size_t i = 0; i < n; i++) {
		char buf[64];
		const char *s = names[i];
		if (strncasecmp(s, "CAP_", 4) == 0)
			s += 4;
		snprintf(buf, sizeof buf, "cap_%s", s);
		for (char *c = buf; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		cap_value_t v;
		if (strcmp(buf, "cap_all") == 0 || cap_from_name(buf, &v) < 0 || v < 0 || v > 63)
			return rp_err_set(err, RP_ERR_USAGE, "sandbox.capabilities: unknown capability '%s'",
					  names[i]);
		*mask |= 1ULL << v;
	}
	return 0;
}

int sb_caps_drop(uint64_t keep, struct rp_err *err)
{
	int last = (int)cap_max_bits() - 1;
	for (int c = 0; c <= last; c++) {
		if (keep & (1ULL << c))
			continue;
		if (cap_drop_bound((cap_value_t)c) < 0 && errno != EINVAL)
			return rp_err_sys(err, "sandbox: cannot drop capability %d from the bounding set", c);
	}
	/* One call (libcap's cap_reset_ambient asks about every capability first). */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return rp_err_sys(err, "sandbox: cannot clear ambient capabilities");

	cap_t caps = cap_init(); /* all clear */
	if (!caps)
		return rp_err_sys(err, "sandbox: cap_init");
	for (int c = 0; c <= last && c < 64; c++) {
		if (!(keep & (1ULL << c)))
			continue;
		cap_value_t v = (cap_value_t)c;
		cap_set_flag(caps, CAP_EFFECTIVE, 1, &v, CAP_SET);
		cap_set_flag(caps, CAP_PERMITTED, 1, &v, CAP_SET);
		cap_set_flag(caps, CAP_INHERITABLE, 1, &v, CAP_SET);
	}
	int rc = cap_set_proc(caps);
	cap_free(caps);
	if (rc < 0)
		return rp_err_sys(err, "sandbox: cannot set capabilities");
	for (int c = 0; c <= last && c < 64; c++) {
		if ((keep & (1ULL << c)) && cap_set_ambient((cap_value_t)c, CAP_SET) < 0)
			return rp_err_sys(err, "sandbox: cannot keep capability %d across exec", c);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return rp_err_sys(err, "sandbox: cannot set no_new_privs");
	return 0;
}
