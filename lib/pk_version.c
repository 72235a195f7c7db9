/* pk_version.c — version strings; the only file rebuilt when the git revision changes. */
#include "pk_version.h"

#include <yaml.h>

#ifndef PODKIT_VERSION
#define PODKIT_VERSION "0.0.0"
#endif
#ifndef PODKIT_GIT_REV
#define PODKIT_GIT_REV "unknown"
#endif

const char *pk_version(void)
{
    return PODKIT_VERSION;
}

const char *pk_git_rev(void)
{
    return PODKIT_GIT_REV;
}

void pk_version_print(FILE *out, const char *prog)
{
    fprintf(out, "%s %s (git %s)\n", prog, PODKIT_VERSION, PODKIT_GIT_REV);
    fprintf(out, "libyaml %s\n", yaml_get_version_string());
}
