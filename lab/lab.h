/* SPDX-License-Identifier: Apache-2.0 */
/* Entry points of the paso subcommands; argv[0] is the subcommand's name. Exit codes: 0, 1, 2 usage. */
#ifndef PASO_LAB_H
#define PASO_LAB_H

int template_info_main(int argc, char **argv);
int eval_main(int argc, char **argv);
int eval_protect_main(int argc, char **argv); /* eval --protect */
int scenario_main(int argc, char **argv);
int compare_main(int argc, char **argv);
int stats_main(int argc, char **argv);
int trace_main(int argc, char **argv);

#endif
