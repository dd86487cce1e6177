#include "runs.h"

#include <stdlib.h>

#include "util.h"

int runs_load(const char *ref, struct rp_store *st, struct rp_run *r, char **run_dir, struct rp_err *err)
{
	char id[RP_ID_MAX];
	if (store_open(st, false, err) < 0)
		return -1;
	if (store_resolve(st, ref, id, err) < 0) {
		store_close(st);
		return -1;
	}
	*run_dir = store_run_dir(st, id);
	if (record_read(*run_dir, r, err) < 0) {
		free(*run_dir);
		*run_dir = NULL;
		store_close(st);
		return -1;
	}
	/* A failed write here is not fatal for reading: the run still shows as lost. */
	record_mark_lost_if_gone(*run_dir, r, NULL);
	return 0;
}

int runs_load_all(struct rp_store *st, struct rp_run **runs, size_t *n, struct rp_err *err)
{
	struct strvec ids = {0};
	*runs = NULL;
	*n = 0;
	if (store_list_ids(st, &ids, err) < 0)
		return -1;
	*runs = xcalloc(ids.n ? ids.n : 1, sizeof **runs);
	for (size_t i = 0; i < ids.n; i++) {
		char *dir = store_run_dir(st, ids.v[i]);
		if (record_read(dir, &(*runs)[*n], NULL) == 0) {
			record_mark_lost_if_gone(dir, &(*runs)[*n], NULL);
			(*n)++;
		}
		free(dir);
	}
	strvec_free(&ids);
	return 0;
}

void runs_free(struct rp_run *runs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		record_free(&runs[i]);
	free(runs);
}
