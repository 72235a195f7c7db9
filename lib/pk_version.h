/* pk_version.h — the version, git revision and library versions every binary reports. */
#ifndef PK_VERSION_H
#define PK_VERSION_H

#include <stdio.h>

/* "0.1.0" */
const char *pk_version(void);

/* The git revision the tree was built from, or "unknown" outside a checkout. */
const char *pk_git_rev(void);

/* Prints the -V/--version text of prog to out: "prog 0.1.0 (git abc123)" and one
 * line per library podkit's lib/ links (libyaml). Binaries print their own extra
 * libraries (libevent, hiredis) after it. */
void pk_version_print(FILE *out, const char *prog);

#endif
