/* Per-file hash cache: $RUNPILOT_HOME/cache/files-<id>, one per scope (workdir, rootfs, system).
 *
 * Each entry: (dev, ino, size, mtime ns, ctime ns) -> sha256, plus one start_ns per file.
 * start_ns is when the computation that wrote the file began (CLOCK_REALTIME_COARSE, the clock
 * file timestamps come from). An entry whose mtime or ctime is not older than start_ns is
 * "racy" (git's rule): the file may have changed again within the same timestamp tick after it
 * was hashed, so it is re-hashed instead of trusted. Only entries seen by the last computation
 * are kept, so deleted files drop out. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "util.h"

struct cache_entry {
	unsigned long long dev, ino, size;
	long long mtime_ns, ctime_ns;
	unsigned char hash[FP_HASH_LEN];
	bool used;     /* looked up or put by this computation: kept on save */
	bool occupied;
};

struct fp_cache {
	char *path;                 /* NULL: caching disabled */
	long long loaded_start_ns;  /* racy threshold of the loaded entries */
	long long start_ns;         /* this computation's start: saved as the new threshold */
	struct cache_entry *tab;    /* open addressing on (dev, ino) */
	size_t cap, n;
	bool dirty;
	bool keep_unused;           /* shared scopes ("system"): keep entries this computation did not use */
};

/* Whether a loaded entry that this computation did not use survives the save. Only entries that
 * were already safe (older than the threshold they were loaded with) may be carried over to the
 * new, later threshold: a racy one would otherwise become trusted. */
static bool keep_entry(const struct fp_cache *c, const struct cache_entry *e)
{
	if (!e->occupied)
		return false;
	if (e->used)
		return true;
	return c->keep_unused && e->mtime_ns < c->loaded_start_ns && e->ctime_ns < c->loaded_start_ns;
}

long long fp_stat_mtime_ns(const struct stat *st)
{
	return (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
}

long long fp_stat_ctime_ns(const struct stat *st)
{
	return (long long)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
}

static size_t slot_of(const struct fp_cache *c, unsigned long long dev, unsigned long long ino)
{
	unsigned long long k = ino * 0x9E3779B97F4A7C15ULL ^ dev * 0xC2B2AE3D27D4EB4FULL;
	return (size_t)(k ^ (k >> 29)) & (c->cap - 1);
}

static struct cache_entry *find_slot(struct fp_cache *c, unsigned long long dev, unsigned long long ino)
{
	size_t i = slot_of(c, dev, ino);
	while (c->tab[i].occupied && !(c->tab[i].dev == dev && c->tab[i].ino == ino))
		i = (i + 1) & (c->cap - 1);
	return &c->tab[i];
}

static void grow(struct fp_cache *c)
{
	struct cache_entry *old = c->tab;
	size_t oldcap = c->cap;
	c->cap = oldcap ? oldcap * 2 : 1024;
	c->tab = xcalloc(c->cap, sizeof *c->tab);
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].occupied)
			*find_slot(c, old[i].dev, old[i].ino) = old[i];
	free(old);
}

static struct cache_entry *insert_slot(struct fp_cache *c, unsigned long long dev, unsigned long long ino)
{
	if ((c->n + 1) * 2 > c->cap)
		grow(c);
	struct cache_entry *e = find_slot(c, dev, ino);
	if (!e->occupied) {
		e->occupied = true;
		e->dev = dev;
		e->ino = ino;
		c->n++;
	}
	return e;
}

char *fp_cache_path(const char *home, const char *scope)
{
	unsigned char h[FP_HASH_LEN];
	char hex[FP_HEX_LEN + 1];
	fp_sha256(scope, strlen(scope), h);
	fp_hex(h, hex);
	hex[16] = '\0';
	return xasprintf("%s/cache/files-%s", home, hex);
}

/* On disk: a 16-byte header (magic, start_ns) and fixed-size little-endian-native records; a warm
 * run reads it in one go (a text format's parsing was a third of a warm run). The cache is
 * local to this machine, so native byte order is fine; another magic is simply ignored. */
static const char cache_magic[8] = { 'R', 'P', 'F', 'C', 'A', 'C', '1', '\n' };

struct cache_record {
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
	unsigned char hash[FP_HASH_LEN];
};

static void parse_cache(struct fp_cache *c, const char *data, size_t len)
{
	int64_t start;
	if (len < 16 || memcmp(data, cache_magic, 8) != 0)
		return;
	memcpy(&start, data + 8, 8);
	c->loaded_start_ns = start;
	for (size_t off = 16; off + sizeof(struct cache_record) <= len; off += sizeof(struct cache_record)) {
		struct cache_record r;
		memcpy(&r, data + off, sizeof r);
		struct cache_entry *e = insert_slot(c, r.dev, r.ino);
		e->size = r.size;
		e->mtime_ns = r.mtime_ns;
		e->ctime_ns = r.ctime_ns;
		memcpy(e->hash, r.hash, FP_HASH_LEN);
	}
}

struct fp_cache *fp_cache_open(const char *home, const char *scope)
{
	struct fp_cache *c = xcalloc(1, sizeof *c);
	struct timespec ts;
	/* File timestamps come from the coarse clock: take the threshold from the same one. */
	if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) < 0)
		clock_gettime(CLOCK_REALTIME, &ts);
	c->start_ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	grow(c);
	if (!home || !scope)
		return c;
	c->path = fp_cache_path(home, scope);
	/* the system scope holds every interpreter runs have used, not just this run's */
	c->keep_unused = !strcmp(scope, "system");
	char *data = NULL;
	size_t len = 0;
	if (read_file(c->path, &data, &len, NULL) == 0) {
		/* size the table once for what is coming */
		while ((len / sizeof(struct cache_record) + 1) * 2 > c->cap)
			grow(c);
		parse_cache(c, data, len);
	}
	free(data);
	return c;
}

void fp_cache_set_start_ns(struct fp_cache *c, long long ns)
{
	c->start_ns = ns;
}

bool fp_cache_lookup(struct fp_cache *c, const struct stat *st, unsigned char out[FP_HASH_LEN])
{
	if (!c)
		return false;
	struct cache_entry *e = find_slot(c, (unsigned long long)st->st_dev, (unsigned long long)st->st_ino);
	long long mt = fp_stat_mtime_ns(st), ct = fp_stat_ctime_ns(st);
	if (!e->occupied || e->size != (unsigned long long)st->st_size || e->mtime_ns != mt || e->ctime_ns != ct)
		return false;
	/* Racy: changed in the same tick the cache was computed in; the hash may be stale. */
	if (mt >= c->loaded_start_ns || ct >= c->loaded_start_ns)
		return false;
	e->used = true;
	memcpy(out, e->hash, FP_HASH_LEN);
	return true;
}

void fp_cache_put(struct fp_cache *c, const struct stat *st, const unsigned char h[FP_HASH_LEN])
{
	if (!c)
		return;
	struct cache_entry *e = insert_slot(c, (unsigned long long)st->st_dev, (unsigned long long)st->st_ino);
	e->size = (unsigned long long)st->st_size;
	e->mtime_ns = fp_stat_mtime_ns(st);
	e->ctime_ns = fp_stat_ctime_ns(st);
	memcpy(e->hash, h, FP_HASH_LEN);
	e->used = true;
	c->dirty = true;
}

int fp_cache_save(struct fp_cache *c, struct rp_err *err)
{
	if (!c || !c->path)
		return 0;
	size_t kept = 0;
	for (size_t i = 0; i < c->cap; i++)
		kept += keep_entry(c, &c->tab[i]);
	if (!c->dirty && kept == c->n)
		return 0; /* nothing new, nothing dropped: keep the file (and its threshold) as is */

	char *dir = xstrdup(c->path);
	*strrchr(dir, '/') = '\0';
	int rc = mkdir_p(dir, 0755, err);
	free(dir);
	if (rc < 0)
		return -1;

	size_t len = 16;
	char *buf = xmalloc(16 + kept * sizeof(struct cache_record));
	int64_t start = c->start_ns;
	memcpy(buf, cache_magic, 8);
	memcpy(buf + 8, &start, 8);
	for (size_t i = 0; i < c->cap; i++) {
		const struct cache_entry *e = &c->tab[i];
		if (!keep_entry(c, e))
			continue;
		struct cache_record r = { .dev = e->dev, .ino = e->ino, .size = e->size,
					  .mtime_ns = e->mtime_ns, .ctime_ns = e->ctime_ns };
		memcpy(r.hash, e->hash, FP_HASH_LEN);
		memcpy(buf + len, &r, sizeof r);
		len += sizeof r;
	}
	/* a cache: losing it in a crash only costs re-hashing, so no fsync */
	rc = write_file_atomic_flags(c->path, buf, len, 0644, RP_WRITE_NO_FSYNC, err);
	free(buf);
	if (rc < 0)
		return rp_err_wrap(err, "hash cache");
	c->dirty = false;
	return 0;
}

void fp_cache_free(struct fp_cache *c)
{
	if (!c)
		return;
	free(c->tab);
	free(c->path);
	free(c);
}
