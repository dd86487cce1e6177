/* select.h: --where for the commands that take runs. */
#include "select.h"

#include "index.h"
#include "store.h"

int select_where(const char *expr, struct strvec *ids, struct rp_err *err)
{
	struct rp_store st;
	if (store_open(&st, false, err) < 0)
		return -1;
	struct rp_index *ix = NULL;
	int rc = -1;
	if (index_open(&st, &ix, err) < 0)
		goto out;
	if (!ix) {
		rp_err_set(err, RP_ERR_USAGE, "--where needs the run index, which cannot be written in %s", st.home);
		goto out;
	}
	struct index_query q = {.where = expr};
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
