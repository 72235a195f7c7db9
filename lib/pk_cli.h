/* pk_cli.h — the command line every podkit daemon shares, built from its config table. */
#ifndef PK_CLI_H
#define PK_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "pk_conf.h"

/* What a binary tells the common command line about itself. All pointers are static. */
struct pk_cli_spec {
    const char *prog;               /* name in usage lines and messages */
    const char *synopsis;           /* after the name in "Usage:", e.g. "[OPTIONS]" */
    const char *about;              /* what it does: printed by --help, may span lines */
    const struct pk_conf_key *keys; /* the binary's table; every key is a flag and a YAML key */
    const struct pk_conf_key *more_keys; /* a second table into the same struct, or NULL
                                          * (a subcommand's keys beside the global ones) */
    bool config_long_only; /* -c is the binary's (kubectl's -c CONTAINER): only --config */
    const char *epilog;    /* more --help text at the end, or NULL */
    bool positional;       /* accepts arguments; the first one ends the options */
    bool interleaved;      /* accepts arguments anywhere among the options (kubectl style), in
                            * cli->args; "--" ends the options and args_dashdash marks it */
    void (*version_extra)(FILE *out); /* prints more library version lines for -V, or NULL */
    /* Checks what spans several keys, after every key is set (so that -t checks it too);
     * returns 0, or -1 with one line in err. It may fill fields of base that the binary
     * frees itself, also after a failure. NULL: nothing to check. */
    int (*check)(void *base, char *err, size_t errsz);
};

/* The keys every binary has, in the file and as flags. */
struct pk_cli_common {
    int log_level;  /* enum pk_log_level, from log-level: / --log-level */
    int log_format; /* enum pk_log_format, from log-format: / --log-format */
};

/* One flag from argv, kept so that a reload applies it again over the new file. */
struct pk_cli_flag {
    size_t section; /* 0: the common keys, 1: the binary's */
    const struct pk_conf_key *key;
    const char *value; /* borrowed from argv, or a literal ("true" for --name) */
};

/* The parsed command line and the configuration it produced. */
struct pk_cli {
    const struct pk_cli_spec *spec;
    int argc;
    char **argv;             /* borrowed from main */
    const char *config_path; /* -c FILE (borrowed from argv), or NULL */
    bool test_config;        /* -t: validate and exit */
    int first_arg;           /* argv index of the first positional argument; argc if none */
    char **args;             /* interleaved: the arguments in order (owned array) */
    int nargs;
    int args_dashdash; /* interleaved: args before "--" (nargs when there is none) */
    struct pk_cli_common common;
    struct pk_cli_flag *flags; /* owned; in argv order */
    size_t nflags;
    struct pk_conf conf; /* owns the values in the binary's struct; see pk_cli_release */
};

#define PK_CLI_RUN (-1)

/* Everything a binary does before its own work: parses argv, sets base to the table's
 * defaults, then the -c file's values, then the flags' (flags win), sets up the logger,
 * and handles -h, -V and -t itself. Returns PK_CLI_RUN when the binary should go on, or
 * else the exit status to end with, having printed what the user needs to read: 0 after
 * --help, --version or a valid -t; 1 for an invalid configuration (one line naming
 * FILE:LINE:COLUMN and the key); 2 for bad usage (one line, and a pointer to --help).
 * Whatever the result, pk_cli_release frees what was built. */
int pk_cli_start(struct pk_cli *cli, const struct pk_cli_spec *spec, void *base, int argc,
                 char **argv);

/* For a reload (SIGHUP): builds a new configuration into fresh_base, from the same file
 * and flags, into fresh_conf (owned by the caller: pk_conf_release it when done). Returns
 * 0, or -1 with the reason in fresh_conf->err; the running configuration is untouched
 * either way, so the caller swaps only on success. */
int pk_cli_reload(const struct pk_cli *cli, struct pk_conf *fresh_conf, void *fresh_base);

/* Frees the configuration values pk_cli_start put into base, and the parsed flags. */
void pk_cli_release(struct pk_cli *cli);

/* Writes the --help text: usage, about, every key with its flag, default and help. */
void pk_cli_help(const struct pk_cli_spec *spec, FILE *out);

#endif
