/* memhog MIB [HOLD_SECONDS]: allocate MIB MiB, touch every page (so it is really resident), then
 * optionally hold it. Test workload for memory limits and memory_peak; static, runs in the VM. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: memhog MIB [HOLD_SECONDS]\n");
		return 2;
	}
	long long mib = atoll(argv[1]);
	size_t n = (size_t)mib << 20;
	char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("memhog: mmap");
		return 1;
	}
	for (size_t i = 0; i < n; i += 4096)
		p[i] = (char)i;
	printf("memhog: touched %lld MiB\n", mib);
	fflush(stdout);
	if (argc > 2)
		sleep((unsigned)atoi(argv[2]));
	return 0;
}
