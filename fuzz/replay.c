/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A main for the fuzz targets without libFuzzer: runs LLVMFuzzerTestOneInput once on every file
 * of the directories (or files) given, so CI replays each committed corpus with any compiler.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX (4u << 20)

static int
run_file(const char *path, size_t *np)
{
	uint8_t *buf;
	size_t n;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: %s: cannot open\n", path);
		return 1;
	}
	if ((buf = malloc(REPLAY_MAX)) == NULL) {
		fclose(f);
		return 1;
	}
	n = fread(buf, 1, REPLAY_MAX, f);
	fclose(f);
	(void)LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	(*np)++;
	return 0;
}

int
main(int argc, char **argv)
{
	char path[4096];
	struct dirent *de;
	struct stat st;
	size_t n = 0;
	DIR *dp;
	int i, bad = 0;

	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: no such file or directory\n", argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			bad |= run_file(argv[i], &n);
			continue;
		}
		if ((dp = opendir(argv[i])) == NULL)
			return 1;
		while ((de = readdir(dp)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			(void)snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
			bad |= run_file(path, &n);
		}
		closedir(dp);
	}
	printf("replayed %zu inputs\n", n);
	/* An empty corpus replays nothing and proves nothing. */
	return bad || n == 0 ? 1 : 0;
}
