/* The per-file hash cache (cache.c). */
#ifndef RP_FP_CACHE_H
#define RP_FP_CACHE_H

#include <stdbool.h>
#include <sys/stat.h>

#include "err.h"
#include "hash.h"

/* One cache per scope (a workdir, a rootfs, "system"): $home/cache/files-<sha256(scope)[:16]>.
 * Keyed by (dev, ino); an entry is used only when size, mtime ns and ctime ns all match and
 * the entry is not racy: its mtime and ctime are older than the moment the computation that
 * wrote the cache started (git's racy-clean rule). */
struct fp_cache;
/* Never fails: a missing, unreadable or corrupt cache is an empty one. home NULL = no cache. */
struct fp_cache *fp_cache_open(const char *home, const char *scope);
bool fp_cache_lookup(struct fp_cache *c, const struct stat *st, unsigned char out[FP_HASH_LEN]);
void fp_cache_put(struct fp_cache *c, const struct stat *st, const unsigned char h[FP_HASH_LEN]);
/* Write the cache (atomically) when it changed: only entries looked up or put since open. */
int fp_cache_save(struct fp_cache *c, struct rp_err *err);
void fp_cache_free(struct fp_cache *c);
/* Path of a scope's cache file (malloc'd). */
char *fp_cache_path(const char *home, const char *scope);
/* For tests: pretend this computation started at ns (CLOCK_REALTIME), the racy threshold saved. */
void fp_cache_set_start_ns(struct fp_cache *c, long long ns);
long long fp_stat_mtime_ns(const struct stat *st);
long long fp_stat_ctime_ns(const struct stat *st);

#endif
