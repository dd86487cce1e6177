/* runpilot image: the image store (pull, import, ls, rm); the work is in src/image/. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "image.h"
#include "print.h"
#include "store.h"
#include "util.h"

const char usage_image[] =
	"usage: runpilot image pull REF\n"
	"       runpilot image import FILE|DIR [--name NAME]\n"
	"       runpilot image ls\n"
	"       runpilot image rm REF\n"
	"\n"
	"Keep images for runs without Docker, in $RUNPILOT_HOME/images/ (see docs/images.md).\n"
	"\n"
	"  pull REF          copy REF from its registry (with skopeo) and import it\n"
	"  import FILE|DIR   import a `docker save` archive or an OCI image layout (a directory or\n"
	"                    its tar); every blob is verified and the layers unpacked, and a\n"
	"                    hostile image is refused with nothing stored\n"
	"    --name NAME     also store it under NAME (repository[:tag])\n"
	"  ls                list stored images: NAME, ID, SIZE, UNPACKED, CREATED\n"
	"  rm REF            remove a name, or an image by id (with all its names)\n"
	"\n"
	"REF is name[:tag] (\":latest\" implied), name@sha256:DIGEST, or an image id (or 12+ of its\n"
	"hex digits). RUNPILOT_IMAGE_MAX_BYTES caps what an image may take (default 32 GiB).\n";

/* Only positional arguments, plus --name for import. */
static int parse_args(int argc, char **argv, const char **name, int want, struct rp_err *err)
{
	static const struct option longopts[] = {{"name", required_argument, NULL, 'n'}, {NULL, 0, NULL, 0}};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		if (c == 'n' && name) {
			*name = optarg;
			continue;
		}
		if (c == ':')
			return rp_err_set(err, RP_ERR_USAGE, "option '%s' needs a value", argv[optind - 1]);
		return rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' for `runpilot image %s` (see `runpilot image "
				  "--help`)", argv[optind - 1], argv[0]);
	}
	if (argc - optind < want)
		return rp_err_set(err, RP_ERR_USAGE, "`runpilot image %s` needs %s", argv[0],
				  !strcmp(argv[0], "import") ? "FILE or DIR" : "REF");
	if (argc - optind > want)
		return rp_err_set(err, RP_ERR_USAGE, "unexpected argument '%s'", argv[optind + want]);
	return optind;
}

static void short_id(const char *id, char out[13])
{
	snprintf(out, 13, "%s", id + (strncmp(id, "sha256:", 7) ? 0 : 7));
}

/* "imported ID NAME": the name asked for (a pull), else the image's first. */
static void print_imported(const char *verb, const struct img_info *img, const char *asked)
{
	char id[13];
	short_id(img->id, id);
	printf("%s %s %s\n", verb, id, asked ? asked : img->names[0] ? img->names[0] : "<none>");
}

static void add_rows(struct table *t, const struct img_info *img)
{
	char id[13], size[32];
	short_id(img->id, id);
	fmt_bytes((double)img->size, size, sizeof size);
	const char *created = img->created ? img->created : "-";
	char when[32];
	double epoch;
	if (img->created && parse_rfc3339(img->created, &epoch) == 0) {
		fmt_local_time(epoch, when, sizeof when);
		created = when;
	}
	for (size_t i = 0; i == 0 || img->names[i]; i++) {
		const char *row[] = {img->names[i] ? img->names[i] : "<none>", id, size, img->rootfs ? "yes" : "no",
				     created};
		table_add(t, row);
		if (!img->names[i])
			break;
	}
}

static int image_ls(const char *home, struct rp_err *err)
{
	struct img_info *v;
	size_t n;
	if (img_list(home, &v, &n, err) < 0)
		return -1;
	static const char *const header[] = {"NAME", "ID", "SIZE", "UNPACKED", "CREATED"};
	struct table t;
	table_init(&t, 5, header);
	for (size_t i = 0; i < n; i++)
		add_rows(&t, &v[i]);
	table_print(&t, stdout);
	table_free(&t);
	img_list_free(v, n);
	return 0;
}

static int image_run(const char *home, int argc, char **argv, struct rp_err *err)
{
	const char *sub = argv[0], *name = NULL;
	struct img_info img = {0};
	int i, rc;
	const char *asked = NULL;
	if (!strcmp(sub, "ls")) {
		return parse_args(argc, argv, NULL, 0, err) < 0 ? -1 : image_ls(home, err);
	} else if (!strcmp(sub, "rm")) {
		if ((i = parse_args(argc, argv, NULL, 1, err)) < 0 || img_remove(home, argv[i], err) < 0)
			return -1;
		printf("removed %s\n", argv[i]);
		return 0;
	} else if (!strcmp(sub, "import")) {
		if ((i = parse_args(argc, argv, &name, 1, err)) < 0)
			return -1;
		rc = img_import(home, argv[i], name, &img, err);
	} else if (!strcmp(sub, "pull")) {
		if ((i = parse_args(argc, argv, NULL, 1, err)) < 0)
			return -1;
		rc = img_pull(home, argv[i], &img, err);
		asked = argv[i];
	} else {
		return rp_err_set(err, RP_ERR_USAGE, "no image command '%s': use pull, import, ls or rm", sub);
	}
	if (rc == 0)
		print_imported(asked ? "pulled" : "imported", &img, asked);
	img_info_free(&img);
	return rc;
}

int cmd_image(int argc, char **argv, struct rp_err *err)
{
	if (argc < 2)
		return rp_err_set(err, RP_ERR_USAGE, "`runpilot image` needs a command: pull, import, ls or rm");
	struct rp_store st;
	bool writes = strcmp(argv[1], "ls") != 0;
	if (store_open(&st, writes, err) < 0)
		return -1;
	int rc = image_run(st.home, argc - 1, argv + 1, err);
	store_close(&st);
	return rc;
}
