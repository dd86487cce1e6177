/* select.h: choosing runs the way list does, for the commands that take runs. */
#include "select.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "index.h"
#include "record.h"
#include "store.h"

int parse_when(const char *flag, const char *s, double *out, struct rp_err *err)
{
	double age;
	if (parse_rfc3339(s, out) == 0)
		return 0;
	struct tm tm = {0};
	const char *end = strptime(s, "%Y-%m-%d", &tm);
	if (end && !*end) {
		/* a date is a UTC day, as in --where */
		*out = (double)timegm(&tm);
		return 0;
	}
	if (parse_duration(s, &age) == 0) {
		*out = now_realtime() - age;
		return 0;
	}
	return rp_err_set(err, RP_ERR_USAGE, "%s '%s': use a date (2025-11-14), an RFC 3339 time or an age (7d, 12h, 30m)",
			  flag, s);
}

int selection_option(struct run_selection *s, int c, const char *arg, struct rp_err *err)
{
	enum rp_status st;
	switch (c) {
	case SEL_WHERE: s->where = arg; break;
	case SEL_STATUS:
		if (status_parse(arg, &st) < 0 && strcmp(arg, "unreadable") != 0)
			return rp_err_set(err, RP_ERR_USAGE,
					  "--status '%s': use running, success, failed, cancelled, lost or unreadable", arg);
		strvec_push(&s->statuses, arg);
		break;
	case SEL_TAG: strvec_push(&s->tags, arg); break;
	case SEL_NAME: s->name_glob = arg; break;
	case SEL_SINCE: if (parse_when("--since", arg, &s->since, err) < 0) return -1; break;
	case SEL_UNTIL: if (parse_when("--until", arg, &s->until, err) < 0) return -1; break;
	default: return 0;
	}
	s->given = true;
	return 1;
}

void selection_free(struct run_selection *s)
{
	strvec_free(&s->statuses);
	strvec_free(&s->tags);
}

int select_runs(const struct run_selection *sel, struct strvec *ids, struct rp_err *err)
{
	struct rp_store st;
	if (store_open(&st, false, err) < 0)
		return -1;
	struct rp_index *ix = NULL;
	int rc = -1;
	if (index_open(&st, &ix, err) < 0)
		goto out;
	if (!ix) {
		rp_err_set(err, RP_ERR_USAGE, "selecting runs by --where, --status, --tag, ... needs the run index, "
					      "which cannot be used in %s: name the runs", st.home);
		goto out;
	}
	struct index_query q = {.statuses = sel->statuses.v, .nstatuses = sel->statuses.n, .tags = sel->tags.v,
				.ntags = sel->tags.n, .name_glob = sel->name_glob, .since = sel->since,
				.until = sel->until, .where = sel->where};
	struct index_row *rows;
	size_t n, total;
	if (index_select(ix, &q, &rows, &n, &total, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		strvec_push(ids, rows[i].id);
	index_rows_free(rows, n);
	rc = 0;
out:
	index_close(ix);
	store_close(&st);
	return rc;
}
