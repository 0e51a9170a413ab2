/* The berth program's subcommands. Each takes the arguments after its name and returns the exit code. */
#ifndef BERTH_CLI_COMMANDS_H
#define BERTH_CLI_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_components(int argc, char **argv);

#endif
