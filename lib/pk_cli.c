/* pk_cli.c — parses the shared command line, loads the config and answers -h -V -t. */
#include "pk_cli.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "pk_log.h"
#include "pk_version.h"

/* The short letters of the builtin options; no key table may use them. */
#define RESERVED_SHORT "chtV"

/* What option parsers return when the option was taken and parsing goes on; anything
 * else is the exit status to end with. */
#define NEXT (-1)

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const log_formats[] = {"text", "json", NULL};

static const struct pk_conf_key common_keys[] = {
    {.name = "log-level",
     .type = PK_CONF_ENUM,
     .offset = offsetof(struct pk_cli_common, log_level),
     .def = "info",
     .metavar = "LEVEL",
     .choices = log_levels,
     .help = "log this level and the more severe: error, warn, info or debug"},
    {.name = "log-format",
     .type = PK_CONF_ENUM,
     .offset = offsetof(struct pk_cli_common, log_format),
     .def = "text",
     .metavar = "FORMAT",
     .choices = log_formats,
     .help = "text (prog[pid] LEVEL message) or json (one object a line)"},
    {.name = NULL},
};

/* The options that are not configuration keys, for --help. */
static const struct {
    char short_flag;
    const char *name;
    const char *metavar;
    const char *help;
} builtin[] = {
    {'c', "config", "FILE", "read options from this YAML file (flags win over it)"},
    {'t', "test-config", NULL, "check the configuration, say what is wrong, and exit"},
    {'h', "help", NULL, "show this help and exit"},
    {'V', "version", NULL, "show the version, git revision and library versions, and exit"},
};

static const char *metavar(const struct pk_conf_key *k)
{
    static const char *const words[] = {NULL,     "N",     "SIZE", "DURATION",
                                        "STRING", "VALUE", "NAME", "VALUE"};
    return k->metavar != NULL ? k->metavar : words[k->type];
}

static void help_line(FILE *out, char short_flag, const char *name, const char *var,
                      const char *help, const char *def, bool repeatable)
{
    char left[64];
    int n;

    if (short_flag != 0) {
        n = snprintf(left, sizeof(left), "  -%c, --%s%s%s", short_flag, name, var ? " " : "",
                     var ? var : "");
    } else {
        n = snprintf(left, sizeof(left), "      --%s%s%s", name, var ? " " : "", var ? var : "");
    }
    if (n >= 30) {
        fprintf(out, "%s\n%30s", left, "");
    } else {
        fprintf(out, "%-30s", left);
    }
    fprintf(out, "%s", help);
    if (repeatable) {
        fprintf(out, " (repeatable)");
    }
    if (def != NULL) {
        fprintf(out, " [default: %s]", def[0] != '\0' ? def : "\"\"");
    }
    fputc('\n', out);
}

static void help_keys(FILE *out, const struct pk_conf_key *keys)
{
    for (const struct pk_conf_key *k = keys; k->name != NULL; k++) {
        if (k->flags & PK_CONF_FILE_ONLY) {
            continue;
        }
        help_line(out, k->short_flag, k->name, metavar(k), k->help, k->def,
                  k->type == PK_CONF_LIST);
    }
}

void pk_cli_help(const struct pk_cli_spec *spec, FILE *out)
{
    bool file_only = false;

    fprintf(out, "Usage: %s %s\n\n%s\n\nOptions:\n", spec->prog, spec->synopsis, spec->about);
    help_keys(out, spec->keys);
    if (spec->more_keys != NULL) {
        help_keys(out, spec->more_keys);
    }
    help_keys(out, common_keys);
    for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
        char letter = builtin[i].short_flag;
        if (letter == 'c' && spec->config_long_only) {
            letter = 0;
        }
        help_line(out, letter, builtin[i].name, builtin[i].metavar, builtin[i].help, NULL, false);
    }
    for (const struct pk_conf_key *k = spec->keys; k->name != NULL; k++) {
        if (k->flags & PK_CONF_FILE_ONLY) {
            if (!file_only) {
                fprintf(out, "\nOnly in the config file:\n");
                file_only = true;
            }
            fprintf(out, "  %-28s%s\n", k->name, k->help);
        }
    }
    fprintf(out, "\nEvery option above is also a key of the -c YAML file, without the dashes\n"
                 "(\"log-level: debug\"; a.b is key b under a; lists as YAML sequences).\n"
                 "Booleans: --name sets true, --no-name false. Sizes: 512, 64KiB, 8MiB, 1GB.\n"
                 "Durations: 250ms, 5s, 1m30s, 2h (a bare number is seconds).\n"
                 "Exit status: 0 done, 1 invalid configuration or failure, 2 bad usage.\n");
    if (spec->epilog != NULL) {
        fprintf(out, "\n%s\n", spec->epilog);
    }
}

/* Bad usage: one line, and where to look. Returns the exit status 2. */
static int usage_error(const struct pk_cli_spec *spec, const char *what, const char *arg)
{
    fprintf(stderr, "%s: %s%s%s (see '%s --help')\n", spec->prog, what, arg ? " " : "",
            arg ? arg : "", spec->prog);
    return 2;
}

/* Records a flag for build(). Returns NEXT, or the exit status 1 when out of memory. */
static int add_flag(struct pk_cli *cli, size_t section, const struct pk_conf_key *key,
                    const char *value)
{
    struct pk_cli_flag *f = realloc(cli->flags, (cli->nflags + 1) * sizeof(*f));

    if (f == NULL) {
        fprintf(stderr, "%s: out of memory\n", cli->spec->prog);
        return 1;
    }
    cli->flags = f;
    f = &cli->flags[cli->nflags++];
    f->section = section;
    f->key = key;
    f->value = value;
    return NEXT;
}

/* Looks name up among the builtin options' long names; returns its short letter or 0. */
static char builtin_long(const char *name)
{
    for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
        if (strcmp(name, builtin[i].name) == 0) {
            return builtin[i].short_flag;
        }
    }
    return 0;
}

/* Handles a builtin option given by its letter; *i advances past a value it consumes. */
static int builtin_option(struct pk_cli *cli, char letter, const char *inline_value, int *i)
{
    const struct pk_cli_spec *spec = cli->spec;

    switch (letter) {
    case 'h':
        pk_cli_help(spec, stdout);
        return 0;
    case 'V':
        pk_version_print(stdout, spec->prog);
        if (spec->version_extra != NULL) {
            spec->version_extra(stdout);
        }
        return 0;
    case 't':
        cli->test_config = true;
        return NEXT;
    case 'c':
        if (inline_value != NULL) {
            cli->config_path = inline_value;
        } else if (*i + 1 < cli->argc) {
            cli->config_path = cli->argv[++*i];
        } else {
            return usage_error(spec, "option --config needs a value", NULL);
        }
        return NEXT;
    }
    return usage_error(spec, "unknown option", cli->argv[*i]);
}

/* Parses argv[*i], a long option (--name, --name=value, --no-name). */
static int long_option(struct pk_cli *cli, int *i)
{
    const char *arg = cli->argv[*i] + 2;
    const char *eq = strchr(arg, '=');
    char name[128];
    size_t len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
    const struct pk_conf_key *k;
    size_t section = 0;

    if (len >= sizeof(name)) {
        return usage_error(cli->spec, "unknown option", cli->argv[*i]);
    }
    memcpy(name, arg, len);
    name[len] = '\0';
    char letter = builtin_long(name);
    if (letter != 0) {
        if (eq != NULL && letter != 'c') {
            return usage_error(cli->spec, "option takes no value:", cli->argv[*i]);
        }
        return builtin_option(cli, letter, eq != NULL ? eq + 1 : NULL, i);
    }
    k = pk_conf_find(&cli->conf, name, &section);
    if (k == NULL && strncmp(name, "no-", 3) == 0) {
        k = pk_conf_find(&cli->conf, name + 3, &section);
        if (k == NULL || k->type != PK_CONF_BOOL || eq != NULL) {
            return usage_error(cli->spec, "unknown option", cli->argv[*i]);
        }
        return add_flag(cli, section, k, "false");
    }
    if (k == NULL || (k->flags & PK_CONF_FILE_ONLY)) {
        return usage_error(cli->spec, "unknown option", cli->argv[*i]);
    }
    if (eq != NULL) {
        return add_flag(cli, section, k, eq + 1);
    }
    if (k->type == PK_CONF_BOOL) {
        return add_flag(cli, section, k, "true");
    }
    if (*i + 1 >= cli->argc) {
        char what[160];
        snprintf(what, sizeof(what), "option --%s needs a value", k->name);
        return usage_error(cli->spec, what, NULL);
    }
    return add_flag(cli, section, k, cli->argv[++*i]);
}

/* Parses argv[*i], one or more short options ("-t", "-lVALUE", "-l VALUE", "-tv"). */
static int short_options(struct pk_cli *cli, int *i)
{
    const char *arg = cli->argv[*i];

    for (size_t j = 1; arg[j] != '\0'; j++) {
        size_t section = 0;
        const struct pk_conf_key *k = pk_conf_find_short(&cli->conf, arg[j], &section);
        const char *rest = arg[j + 1] != '\0' ? arg + j + 1 : NULL;
        int rc;

        if (k == NULL || (k->flags & PK_CONF_FILE_ONLY)) {
            if (strchr(RESERVED_SHORT, arg[j]) == NULL) {
                char what[32];
                snprintf(what, sizeof(what), "unknown option -%c", arg[j]);
                return usage_error(cli->spec, what, NULL);
            }
            rc = builtin_option(cli, arg[j], arg[j] == 'c' ? rest : NULL, i);
            if (rc != NEXT || arg[j] == 'c') {
                return rc; /* -c took the rest of the word or the next argument */
            }
            continue;
        }
        if (k->type == PK_CONF_BOOL) {
            rc = add_flag(cli, section, k, "true");
            if (rc != NEXT) {
                return rc;
            }
            continue;
        }
        if (rest != NULL) {
            return add_flag(cli, section, k, rest);
        } else if (*i + 1 < cli->argc) {
            return add_flag(cli, section, k, cli->argv[++*i]);
        } else {
            char what[160];
            snprintf(what, sizeof(what), "option -%c needs a value", arg[j]);
            return usage_error(cli->spec, what, NULL);
        }
    }
    return NEXT;
}

static int parse_argv(struct pk_cli *cli)
{
    int i;

    cli->args = calloc((size_t)cli->argc + 1, sizeof(*cli->args));
    if (cli->args == NULL) {
        fprintf(stderr, "%s: out of memory\n", cli->spec->prog);
        return 1;
    }
    for (i = 1; i < cli->argc; i++) {
        const char *arg = cli->argv[i];
        int rc;

        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (arg[0] != '-' || arg[1] == '\0') {
            if (cli->spec->interleaved) {
                cli->args[cli->nargs++] = cli->argv[i];
                continue;
            }
            if (!cli->spec->positional) {
                return usage_error(cli->spec, "unexpected argument", arg);
            }
            break; /* the first argument ends the options, so CMD -x is CMD's */
        }
        rc = arg[1] == '-' ? long_option(cli, &i) : short_options(cli, &i);
        if (rc != NEXT) {
            return rc;
        }
    }
    if (i < cli->argc && !cli->spec->positional && !cli->spec->interleaved) {
        return usage_error(cli->spec, "unexpected argument", cli->argv[i]);
    }
    cli->first_arg = i;
    cli->args_dashdash = cli->nargs;
    while (cli->spec->interleaved && i < cli->argc) {
        cli->args[cli->nargs++] = cli->argv[i++];
    }
    return NEXT;
}

/* Adds the common keys, then the binary's table(s), to conf. */
static int add_tables(struct pk_conf *conf, const struct pk_cli_spec *spec,
                      struct pk_cli_common *common, void *base)
{
    if (pk_conf_add(conf, common_keys, common) < 0 || pk_conf_add(conf, spec->keys, base) < 0) {
        return -1;
    }
    return spec->more_keys != NULL ? pk_conf_add(conf, spec->more_keys, base) : 0;
}

/* Builds conf over the tables: defaults, the file, then the flags in argv order (a
 * list flag replaces the file's list the first time and appends after that). */
static int build(const struct pk_cli *cli, struct pk_conf *conf, struct pk_cli_common *common,
                 void *base)
{
    pk_conf_init(conf);
    if (add_tables(conf, cli->spec, common, base) < 0) {
        return -1;
    }
    if (cli->config_path != NULL && pk_conf_load_file(conf, cli->config_path) < 0) {
        return -1;
    }
    for (size_t i = 0; i < cli->nflags; i++) {
        const struct pk_cli_flag *f = &cli->flags[i];
        bool append = false;
        for (size_t j = 0; j < i && !append; j++) {
            append = cli->flags[j].key == f->key;
        }
        if (pk_conf_set(conf, f->section, f->key, f->value, append) < 0) {
            return -1;
        }
    }
    return pk_conf_check_required(conf);
}

int pk_cli_start(struct pk_cli *cli, const struct pk_cli_spec *spec, void *base, int argc,
                 char **argv)
{
    int rc;

    memset(cli, 0, sizeof(*cli));
    cli->spec = spec;
    cli->argc = argc;
    cli->argv = argv;
    cli->first_arg = argc;
    pk_log_init(spec->prog);

    /* Tables first, so that parsing can look flags up; defaults are set on the way. */
    pk_conf_init(&cli->conf);
    if (add_tables(&cli->conf, spec, &cli->common, base) < 0) {
        fprintf(stderr, "%s: %s\n", spec->prog, cli->conf.err);
        return 1;
    }
    const struct pk_conf_key *tables[] = {spec->keys, spec->more_keys};
    for (size_t t = 0; t < 2; t++) {
        for (const struct pk_conf_key *k = tables[t]; k != NULL && k->name != NULL; k++) {
            if (k->short_flag != 0 && strchr(RESERVED_SHORT, k->short_flag) != NULL &&
                !(k->short_flag == 'c' && spec->config_long_only)) {
                fprintf(stderr, "%s: key %s: short flag -%c is reserved\n", spec->prog, k->name,
                        k->short_flag);
                return 1;
            }
        }
    }
    rc = parse_argv(cli);
    if (rc != NEXT) {
        return rc;
    }

    /* Rebuild from scratch in the documented order: defaults, file, flags. */
    pk_conf_release(&cli->conf);
    if (build(cli, &cli->conf, &cli->common, base) < 0) {
        fprintf(stderr, "%s: %s\n", spec->prog, cli->conf.err);
        return 1;
    }
    pk_log_set_level((enum pk_log_level)cli->common.log_level);
    pk_log_set_format((enum pk_log_format)cli->common.log_format);
    if (spec->check != NULL) {
        char err[PK_CONF_ERR_MAX];
        if (spec->check(base, err, sizeof(err)) < 0) {
            fprintf(stderr, "%s: %s%s%s\n", spec->prog, cli->config_path != NULL ? cli->config_path : "",
                    cli->config_path != NULL ? ": " : "", err);
            return 1;
        }
    }
    if (cli->test_config) {
        printf("%s: configuration %s%s%sis valid\n", spec->prog,
               cli->config_path != NULL ? "file " : "",
               cli->config_path != NULL ? cli->config_path : "",
               cli->config_path != NULL ? " " : "");
        return 0;
    }
    return PK_CLI_RUN;
}

int pk_cli_reload(const struct pk_cli *cli, struct pk_conf *fresh_conf, void *fresh_base)
{
    struct pk_cli_common common;

    if (build(cli, fresh_conf, &common, fresh_base) < 0) {
        return -1;
    }
    pk_log_set_level((enum pk_log_level)common.log_level);
    pk_log_set_format((enum pk_log_format)common.log_format);
    return 0;
}

void pk_cli_release(struct pk_cli *cli)
{
    pk_conf_release(&cli->conf);
    free(cli->args);
    cli->args = NULL;
    cli->nargs = 0;
    free(cli->flags);
    cli->flags = NULL;
    cli->nflags = 0;
}
