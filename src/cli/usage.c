#include "usage.h"

#include <stdio.h>
#include <string.h>

static const char *line_end(const char *p)
{
	const char *e = strchr(p, '\n');
	return e ? e : p + strlen(p);
}

bool usage_option_line(const char *line, size_t len, size_t *spec_end)
{
	size_t indent = 0;
	while (indent < len && line[indent] == ' ')
		indent++;
	if (indent < 2 || indent > 4 || indent == len)
		return false;
	size_t e = indent;
	while (e < len && !(line[e] == ' ' && e + 1 < len && line[e + 1] == ' '))
		e++;
	while (e > indent && line[e - 1] == ' ')
		e--;
	*spec_end = e;
	return true;
}

/* The next space-separated word of s[*i..end), without a trailing comma; false at the end. */
static bool next_word(const char *s, size_t end, size_t *i, char word[USAGE_WORD_MAX])
{
	while (*i < end && s[*i] == ' ')
		(*i)++;
	if (*i >= end)
		return false;
	size_t start = *i;
	while (*i < end && s[*i] != ' ')
		(*i)++;
	size_t len = *i - start;
	if (s[start + len - 1] == ',')
		len--;
	if (len >= USAGE_WORD_MAX)
		len = USAGE_WORD_MAX - 1;
	memcpy(word, s + start, len);
	word[len] = '\0';
	return true;
}

static bool known(const struct usage_flag *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return true;
	return false;
}

/* "-o, --output FILE": the aliases before a metavar share it; "--status S, --tag T": each its
 * own. An option named again (in a second form of the command) counts once. */
static size_t spec_flags(const char *spec, size_t len, struct usage_flag *out, size_t n, size_t max)
{
	size_t i = 0, group = n;
	char w[USAGE_WORD_MAX];
	while (next_word(spec, len, &i, w)) {
		if (w[0] == '-' && w[1]) {
			if (n < max && !known(out, n, w)) {
				snprintf(out[n].name, sizeof out[n].name, "%s", w);
				out[n].metavar[0] = '\0';
				n++;
			}
		} else {
			for (size_t k = group; k < n; k++)
				snprintf(out[k].metavar, sizeof out[k].metavar, "%s", w);
			group = n;
		}
	}
	return n;
}

size_t usage_flags(const char *usage, struct usage_flag *out, size_t max)
{
	size_t n = 0;
	for (const char *p = usage; *p;) {
		const char *e = line_end(p);
		size_t spec_end;
		if (usage_option_line(p, (size_t)(e - p), &spec_end))
			n = spec_flags(p, spec_end, out, n, max);
		p = *e ? e + 1 : e;
	}
	return n;
}

const char *usage_form(const char *usage, size_t n, char *buf, size_t size)
{
	static const char *const leads[] = {"usage: runpilot ", "       runpilot "};
	size_t seen = 0;
	for (const char *p = usage; *p;) {
		const char *e = line_end(p);
		for (size_t k = 0; k < 2; k++) {
			size_t l = strlen(leads[k]);
			if (!strncmp(p, leads[k], l) && seen++ == n) {
				snprintf(buf, size, "%.*s", (int)(e - p - (long)l), p + l);
				return buf;
			}
		}
		p = *e ? e + 1 : e;
	}
	return NULL;
}
