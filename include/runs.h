/* Reading runs back for the face layer: resolve a reference, load run.json, and mark runs whose
 * supervisor is gone as lost (persisted) on the way. */
#ifndef RP_RUNS_H
#define RP_RUNS_H

#include "record.h"
#include "store.h"

/* Open the store (read-only use), resolve ref, read its run.json (marking it lost if needed).
 * *run_dir is owned by the caller. */
int runs_load(const char *ref, struct rp_store *st, struct rp_run *r, char **run_dir, struct rp_err *err);
/* Load every run (oldest first); unreadable run directories are skipped. */
int runs_load_all(struct rp_store *st, struct rp_run **runs, size_t *n, struct rp_err *err);
void runs_free(struct rp_run *runs, size_t n);

#endif
