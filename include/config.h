/* The run spec: one YAML config, validated, with command-line overrides applied. */
#ifndef RP_CONFIG_H
#define RP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct cJSON;

enum rp_scalar_type { RP_STR, RP_INT, RP_FLOAT, RP_BOOL, RP_NULL };

/* A named scalar (params, env). value is the text as written; type says how to render it in JSON. */
struct rp_kv {
	char *key;
	char *value;
	enum rp_scalar_type type;
};

/* Requested resource limits; 0 means "no limit requested". */
struct rp_resources {
	double cpus;              /* fraction of CPUs, e.g. 1.5 */
	long long memory_bytes;   /* k/m/g suffixes, binary units */
	long long pids;
	double timeout_s;         /* s/m/h suffixes */
	long long log_bytes;      /* logs.txt's cap (head and tail kept), k/m/g suffixes; 0: none */
};

struct rp_bind_mount {
	char *src; /* absolute host path */
	char *dst; /* absolute path inside the sandbox */
	bool readonly;
};

/* sandbox: section (used by the sandbox runner; parsed and validated for every runner). */
struct rp_sandbox_cfg {
	char *network;            /* "host" (default) or "none" */
	char *rootfs;             /* absolute path, or NULL for the host's / read-only */
	struct rp_bind_mount *mounts;
	size_t nmounts;
	char **mask;              /* extra paths to hide (absolute, ~ expanded) */
	size_t nmask;
	char **capabilities;      /* capabilities to keep, e.g. "CAP_NET_BIND_SERVICE" */
	size_t ncapabilities;
	char *seccomp_profile;    /* "default" (default), "strict", "unconfined" */
	char **seccomp_deny;      /* extra syscalls to deny */
	size_t nseccomp_deny;
	bool seccomp_log;         /* log denied calls so `show` can name them */
	bool gpus;                /* gpus: all */
	char **env_pass;          /* runpilot's variables (names or globs) the job also gets */
	size_t nenv_pass;
};

/* fingerprint: section. */
struct rp_fingerprint_cfg {
	char **env;               /* extra inherited variable names hashed into the env component */
	size_t nenv;
	long long max_bytes;      /* workdirs larger than this are hashed by metadata only; 0 = default */
};

/* metrics: section. */
struct rp_metric_pattern {
	char *name;               /* {name: regex}: the metric's name; NULL for a bare regex with
				   * named groups key and value (step optional) */
	char *regex;
};

struct rp_metrics_cfg {
	struct rp_metric_pattern *patterns;
	size_t npatterns;
	bool defaults;            /* the built-in forms too (key: value, key=value, JSON); default true */
};

/* slurm: section (the Slurm runner: sbatch's options; docs/cluster.md). */
struct rp_slurm_cfg {
	char *partition, *account, *qos; /* or NULL: the cluster's defaults */
	long long nodes;          /* 0: not given */
	char *gpus;               /* "2" or "a100:2" (--gres=gpu:...), or NULL */
	double time_s;            /* the job's time limit; 0: from resources.timeout */
	char **extra_args;        /* more sbatch options, one "--opt=value" each */
	size_t nextra_args;
};

/* Where an effective setting came from (config --explain). */
enum rp_source {
	RP_SRC_BUILTIN = 0,       /* runpilot's own default */
	RP_SRC_USER,              /* $RUNPILOT_HOME/config.yaml, its defaults: */
	RP_SRC_PROJECT,           /* the project's runpilot.yaml, its defaults: */
	RP_SRC_RUN,               /* the run config itself */
	RP_SRC_FLAG,              /* a command-line override */
};

struct rp_origin {
	char *setting;            /* "resources.memory", "env.FOO", "sandbox.seccomp.profile", ... */
	enum rp_source source;
	char *path;               /* absolute path of the file, NULL for a flag or built-in */
	size_t line;              /* 1-based, 0 for a flag or built-in */
};

/* A file that contributed to the resolved config (run.json's config_sources). */
struct rp_config_source {
	char *path;               /* absolute */
	enum rp_source role;      /* RP_SRC_RUN, RP_SRC_PROJECT or RP_SRC_USER */
};

struct rp_spec {
	char *config_path;        /* absolute path of the YAML file */
	char *config_dir;         /* its folder */
	char *name;
	char *entrypoint;         /* the entrypoint as text (a list is joined with spaces, shell-quoted) */
	char **argv;              /* NULL-terminated: ["/bin/sh","-c",str] or the list as given */
	bool entrypoint_is_list;
	char *image;              /* or NULL */
	char *workdir_raw;        /* as written in the config (or NULL) */
	char *workdir;            /* absolute */
	struct rp_kv *env;
	size_t nenv;
	struct rp_kv *params;
	size_t nparams;
	char **tags;
	size_t ntags;
	struct rp_resources resources;
	bool has_sandbox;         /* a sandbox: section was given */
	struct rp_sandbox_cfg sandbox;
	struct rp_fingerprint_cfg fingerprint;
	bool has_metrics;         /* a metrics: section was given */
	struct rp_metrics_cfg metrics;
	char *runner;             /* runner: (the config's or its defaults'), or NULL: the caller's own ("auto") */
	bool has_slurm;           /* a slurm: section was given */
	struct rp_slurm_cfg slurm;
	struct rp_origin *origins;   /* where each setting given in a file or a flag came from */
	size_t norigins;
	struct rp_config_source *sources; /* the run config first, then project, then user */
	size_t nsources;
};

/* Command-line overrides applied on top of the file. */
struct rp_overrides {
	const char *name;
	const char **tags;        /* added to the config's tags */
	size_t ntags;
	const char **params;      /* "key=value" */
	size_t nparams;
	struct rp_resources resources; /* non-zero fields override */
	bool resolved;            /* the file is a run's stored config.yaml: no user or project defaults */
};

/* Load and validate a config. Errors are RP_ERR_USAGE with "PATH:LINE:COL: message".
 * Unless ov->resolved, the settings the file leaves out are filled from the project's
 * defaults (the `defaults:` of runpilot.yaml: the file itself when it is one, else the
 * nearest one from its folder up to the repository root) and then from the user's
 * ($RUNPILOT_HOME/config.yaml). Per setting: flags > run config > project > user > built-in.
 * `defaults:` is an error in any other run config. */
int config_load(const char *path, const struct rp_overrides *ov, struct rp_spec *spec, struct rp_err *err);
void config_free(struct rp_spec *spec);

#define RP_PROJECT_FILE "runpilot.yaml"

/* The project's `sync:` (runpilot.yaml only): the team server its runs are pushed to. */
struct rp_sync_cfg {
	char *server;             /* http(s)://HOST:PORT, or NULL */
	char *project;            /* the server's project, or NULL */
	bool auto_push;           /* queue each finished run and try one push in the background */
};
/* The sync: of the nearest runpilot.yaml from dir (config_find_project): 1 with *out filled
 * (free it with config_sync_free), 0 when there is none or it has no sync:, -1 with err (a usage
 * error "PATH:LINE:COL: ..." for a bad one). */
int config_sync_find(const char *dir, struct rp_sync_cfg *out, struct rp_err *err);
void config_sync_free(struct rp_sync_cfg *c);
/* The nearest runpilot.yaml from dir up to the repository root (the first folder holding a
 * .git) or /: 1 with *found (owned), 0 when there is none, with *stop (owned, may be NULL)
 * the folder the search stopped at. */
int config_find_project(const char *dir, char **found, char **stop);
/* The user config: $RUNPILOT_HOME/config.yaml (home as store_open finds it). Owned. */
char *config_user_path(void);
/* A source's role as text: "run", "project defaults", "user", "flag", "built-in default". */
const char *config_source_name(enum rp_source s);
/* Every effective setting with its value as text and its source, in a fixed order:
 * [{"setting", "value", "source", "path", "line"}] (path and line only for files). */
struct cJSON *config_explain(const struct rp_spec *spec);

/* The resolved config as a JSON object, keys as in the YAML. Comments and key order do not
 * survive; workdir is absolute (so config.yaml runs again from the run directory). Used for
 * config.yaml, the fingerprint and `diff`. */
struct cJSON *config_to_json(const struct rp_spec *spec);
/* The resolved config as YAML text (what config.yaml holds). */
char *config_to_yaml(const struct rp_spec *spec, struct rp_err *err);
/* Requested limits as a JSON object with only the set ones: {"cpus", "memory", "pids", "timeout"}. */
struct cJSON *config_resources_json(const struct rp_resources *r);
/* Back from that object (absent or bad values are 0: not requested). */
void config_resources_from_json(const struct cJSON *o, struct rp_resources *r);
/* params as a JSON object with typed values. */
struct cJSON *config_params_json(const struct rp_spec *spec);

/* Unit parsers, shared with the flag parser: return -1 on bad input. */
int parse_memory(const char *s, long long *bytes);   /* 512k, 64m, 2g, 1t, plain bytes */
int parse_duration(const char *s, double *seconds);  /* 90, 90s, 30m, 2h, 1.5h */
int parse_cpus(const char *s, double *cpus);         /* > 0 */
int parse_count(const char *s, long long *n);        /* > 0 integer */

#endif
