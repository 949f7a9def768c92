/* SPDX-License-Identifier: Apache-2.0 */
/* paso: the researcher's tool. Dispatches subcommands; each lives in its own lab/ module. */
#include <stdio.h>
#include <string.h>

#include "lab.h"

static const struct {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *help;
} commands[] = {
	{"template", template_info_main,
		"template info FILE [--json]: describe a biometric record"},
	{"eval", eval_main,
		"eval --subjects N --captures M --seed S [--protect] | --records DIR: accuracy of the "
		"matchers (--protect: of protected templates)"},
	{"scenario", scenario_main,
		"scenario run SCENARIO --policy FILE --out DIR: a workload through real hubs, "
		"measured"},
	{"compare", compare_main,
		"compare SCENARIO POLICY... --out DIR: the same workload under each policy, one "
		"report"},
	{"stats", stats_main,
		"stats DEPLOYMENT --publish --epsilon E --budget B: differentially private counts"},
	{"trace", trace_main,
		"trace DEPLOYMENT --card N [--json] [--html FILE]: every act about one person, "
		"with proofs"},
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: paso COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %s\n", commands[i].help);
}

int
main(int argc, char **argv)
{
	size_t i;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].main(argc - 1, argv + 1);
	fprintf(stderr, "paso: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
