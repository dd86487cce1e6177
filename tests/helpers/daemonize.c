/* daemonize PIDFILE: start a detached grandchild (fork, setsid, fork) that sleeps for an hour with
 * its output closed, write its pid to PIDFILE, then sleep for an hour itself. A timeout must kill
 * both: the grandchild is in another session and process group, only the cgroup still holds it. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: daemonize PIDFILE\n");
		return 2;
	}
	pid_t c = fork();
	if (c < 0)
		return 1;
	if (c == 0) {
		setsid();
		pid_t g = fork();
		if (g != 0)
			_exit(g < 0);
		int fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		FILE *f = fopen(argv[1], "w");
		if (!f)
			_exit(1);
		fprintf(f, "%d\n", (int)getpid());
		fclose(f);
		sleep(3600);
		_exit(0);
	}
	waitpid(c, NULL, 0);
	printf("daemonize: started a detached grandchild, pid file %s\n", argv[1]);
	fflush(stdout);
	sleep(3600);
	return 0;
}
