/* spew: write BYTES of 100-byte log lines to stdout as fast as it can, one line in every
 * EVERY a metric line ("step N loss=... lr=..."), the others plain progress text with no ": "
 * or '=' (STYLE plain), or logging-style lines that carry a timestamp and "INFO trainer: "
 * (STYLE logging: each one passes the prefilter and is parsed in full).
 *   spew BYTES [EVERY [plain|logging]]      (the capture bench; tests) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINE 100

static int write_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(1, p, n);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Pad (or cut) a line to LINE bytes, newline included. */
static void fit(char *line)
{
	size_t n = strlen(line);
	if (n < LINE - 1)
		memset(line + n, ' ', LINE - 1 - n);
	line[LINE - 1] = '\n';
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: spew BYTES [EVERY [plain|logging]]\n");
		return 2;
	}
	long long bytes = atoll(argv[1]);
	long every = argc > 2 ? atol(argv[2]) : 100;
	int logging = argc > 3 && !strcmp(argv[3], "logging");
	static char buf[LINE * 1024];
	size_t used = 0;
	for (long long i = 0; (i + 1) * LINE <= bytes; i++) {
		char line[LINE + 64];
		if (every > 0 && i % every == 0)
			snprintf(line, sizeof line, "step %lld loss=%.6f lr=1e-4 acc: %.4f", i / every,
				 1.0 / (double)(i / every + 1), (double)(i % 9973) / 9973.0);
		else if (logging)
			snprintf(line, sizeof line, "2026-12-03 12:30:%02lld,%03lld INFO trainer: batch %lld done in 12 ms",
				 (i / 1000) % 60, i % 1000, i);
		else
			snprintf(line, sizeof line, "batch %lld processed shard data/train-%05lld.bin in 12 ms ok", i,
				 i % 100000);
		fit(line);
		memcpy(buf + used, line, LINE);
		used += LINE;
		if (used == sizeof buf) {
			if (write_all(buf, used) < 0)
				return 1;
			used = 0;
		}
	}
	return write_all(buf, used) < 0 ? 1 : 0;
}
