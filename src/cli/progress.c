/* The progress line: "export   45%  450.0 MiB of 1.00 GiB", redrawn in place with \r. */
#include <stdio.h>
#include <unistd.h>

#include "print.h"
#include "progress.h"
#include "util.h"

void progress_begin(struct progress *p, const char *label, uint64_t total, bool items)
{
	*p = (struct progress){.label = label, .total = total, .items = items, .on = isatty(STDERR_FILENO) == 1};
}

static void fmt_amount(const struct progress *p, uint64_t n, char *out, size_t len)
{
	if (p->items)
		snprintf(out, len, "%llu", (unsigned long long)n);
	else
		fmt_bytes((double)n, out, len);
}

void progress_update(struct progress *p, uint64_t done)
{
	if (!p->on)
		return;
	double now = now_monotonic();
	bool finished = p->total && done >= p->total;
	if (p->drawn && !finished && now - p->last_draw < 0.1)
		return;
	p->last_draw = now;
	p->drawn = true;
	char d[32], t[32];
	fmt_amount(p, done, d, sizeof d);
	if (p->total) {
		fmt_amount(p, p->total, t, sizeof t);
		int pct = done >= p->total ? 100 : (int)(done * 100 / p->total);
		fprintf(stderr, "\r\033[K%-8s %3d%%  %s of %s", p->label, pct, d, t);
	} else {
		fprintf(stderr, "\r\033[K%-8s %s", p->label, d);
	}
	fflush(stderr);
}

void progress_end(struct progress *p)
{
	if (p->on && p->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	p->drawn = false;
}

void progress_callback(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;
	if (total)
		p->total = total;
	progress_update(p, done);
}
