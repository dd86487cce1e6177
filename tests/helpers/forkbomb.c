/* forkbomb SECONDS: every process forks as fast as it can until SECONDS have passed (capped at 512
 * processes in all, so an uncontained run cannot hurt the host), then reaps its children and exits.
 * Prints how many forks succeeded and how many the kernel refused (EAGAIN: pids.max). */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CAP 512

struct shared {
	atomic_int made, refused;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(void)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: forkbomb SECONDS\n");
		return 2;
	}
	struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	pid_t root = getpid();
	double end = now() + atof(argv[1]);
	while (now() < end) {
		if (atomic_load(&sh->made) >= CAP) {
			nap();
			continue;
		}
		pid_t c = fork();
		if (c == 0)
			continue; /* the child bombs too */
		if (c > 0)
			atomic_fetch_add(&sh->made, 1);
		else if (errno == EAGAIN) {
			atomic_fetch_add(&sh->refused, 1);
			nap();
		} else {
			nap();
		}
	}
	while (wait(NULL) > 0 || errno == EINTR)
		;
	if (getpid() == root)
		printf("forkbomb: %d forks, %d refused\n", atomic_load(&sh->made), atomic_load(&sh->refused));
	return 0;
}
