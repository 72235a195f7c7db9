/* fuzz_addr.c — libFuzzer target: address parsing, and format/parse round trips. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pk_addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[512], err[128], out[300];
    struct pk_addr a, b;
    struct sockaddr_storage ss;
    socklen_t len;

    if (size >= sizeof(text)) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    for (uint16_t dflt = 0; dflt <= 1; dflt++) {
        if (pk_addr_parse(text, dflt * 6379, &a, err, sizeof(err)) < 0) {
            if (err[0] == '\0') {
                abort();
            }
            continue;
        }
        /* What parses must format, parse back to the same thing, and never overflow. */
        if (pk_addr_format(&a, out, sizeof(out)) < 0 ||
            pk_addr_parse(out, 0, &b, err, sizeof(err)) < 0 || memcmp(&a, &b, sizeof(a)) != 0) {
            abort();
        }
        pk_addr_sockaddr(&a, &ss, &len);
    }
    return 0;
}
