/* secret.c: API tokens, the hashes the database keeps of them, and password hashes (argon2id
 * with OWASP's parameters), their concurrency capped: each takes 19 MiB and a core. */
#include <argon2.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"
#include "util.h"

#define ARGON2_T 2
#define ARGON2_M 19456 /* KiB */
#define ARGON2_P 1
#define SALT_LEN 16
#define HASH_LEN 32

static void hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

int srv_token_new(char out[SRV_TOKEN_LEN + 1], struct rp_err *err)
{
	unsigned char raw[32];
	if (random_bytes(raw, sizeof raw) < 0)
		return rp_err_sys(err, "getrandom");
	memcpy(out, "rpt_", 4);
	hex(raw, sizeof raw, out + 4);
	return 0;
}

void srv_sha256_hex(const char *s, char out[SRV_HASH_HEX + 1])
{
	unsigned char md[32];
	unsigned int n = 0;
	EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
	hex(md, sizeof md, out);
}

static char *hash_with_salt(const char *password, const unsigned char *salt, struct rp_err *err)
{
	size_t n = argon2_encodedlen(ARGON2_T, ARGON2_M, ARGON2_P, SALT_LEN, HASH_LEN, Argon2_id);
	char *out = xmalloc(n);
	int rc = argon2id_hash_encoded(ARGON2_T, ARGON2_M, ARGON2_P, password, strlen(password), salt, SALT_LEN,
				       HASH_LEN, out, n);
	if (rc != ARGON2_OK) {
		free(out);
		rp_err_set(err, RP_ERR_RUNTIME, "argon2id: %s", argon2_error_message(rc));
		return NULL;
	}
	return out;
}

char *srv_password_hash(const char *password, struct rp_err *err)
{
	unsigned char salt[SALT_LEN];
	if (random_bytes(salt, sizeof salt) < 0) {
		rp_err_sys(err, "getrandom");
		return NULL;
	}
	return hash_with_salt(password, salt, err);
}

static sem_t slots;
static pthread_once_t slots_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t peak_lock = PTHREAD_MUTEX_INITIALIZER;
static int running, peak;
static char *dummy; /* what an unknown account's password is checked against */

static void slots_init(void)
{
	sem_init(&slots, 0, SRV_ARGON2_MAX);
	struct rp_err ignored = {0};
	static const unsigned char salt[SALT_LEN] = "runpilot-dummy!";
	dummy = hash_with_salt("-", salt, &ignored);
}

static void count(int d)
{
	pthread_mutex_lock(&peak_lock);
	running += d;
	if (running > peak)
		peak = running;
	pthread_mutex_unlock(&peak_lock);
}

int srv_password_check(const char *phc, const char *password, int wait_ms)
{
	pthread_once(&slots_once, slots_init);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	int rc;
	while ((rc = sem_timedwait(&slots, &until)) < 0 && errno == EINTR)
		;
	if (rc < 0)
		return -1;
	count(1);
	bool known = phc != NULL;
	int v = argon2id_verify(known ? phc : (dummy ? dummy : ""), password, strlen(password));
	count(-1);
	sem_post(&slots);
	return known && v == ARGON2_OK ? 1 : 0;
}

int srv_argon2_peak(void)
{
	pthread_mutex_lock(&peak_lock);
	int p = peak;
	pthread_mutex_unlock(&peak_lock);
	return p;
}
