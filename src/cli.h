/* cli.h - command-line options, the same way in every quench command:
 * "--name V" and "--name=V", "-h" and "--help". */
#ifndef QUENCH_CLI_H
#define QUENCH_CLI_H

/* Option NAME at ARGV[*I] ("--name V" or "--name=V"), its value into *VAL
 * (borrowed from ARGV); *I moves past a separate value. 1 matched, 0 not
 * this option ("--names" is not "--name"), -1 the value is missing. */
int cli_opt_value(int argc, char **argv, int *i, const char *name, const char **val);

/* 1 if S asks for help ("-h", "--help"). */
int cli_is_help(const char *s);

#endif
