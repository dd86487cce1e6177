/* assets.c: the page's files (src/web/assets/ and uPlot from npm), built into the binary
 * (mk/web.mk writes the table, web_assets[]); each served with its type. */
#include <string.h>

#include "web_int.h"

static const struct {
	const char *ext;
	const char *type;
} types[] = {
	{".html", "text/html; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".ico", "image/x-icon"},
	{".json", "application/json"},
	{".woff2", "font/woff2"},
	{".txt", "text/plain; charset=utf-8"},
};

static const char *type_of(const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
		size_t e = strlen(types[i].ext);
		if (n > e && !strcmp(name + n - e, types[i].ext))
			return types[i].type;
	}
	return "application/octet-stream";
}

int web_serve_asset(struct web_req *r, const char *name)
{
	for (size_t i = 0; i < web_nassets; i++)
		if (!strcmp(web_assets[i].name, name))
			return web_reply_buffer(r, 200, type_of(name), web_assets[i].data,
						(size_t)(web_assets[i].end - web_assets[i].data), false);
	return web_reply_error(r, 404, "not found: asset '%s'", name);
}
