/* Runs chosen by a --where expression, for the commands that take RUN... (compare, report, rm). */
#ifndef RP_SELECT_H
#define RP_SELECT_H

#include "err.h"
#include "util.h"

/* Append the ids of the runs expr holds for (oldest first) to ids. A store whose index cannot be
 * used here is a usage error saying so. */
int select_where(const char *expr, struct strvec *ids, struct rp_err *err);

#endif
