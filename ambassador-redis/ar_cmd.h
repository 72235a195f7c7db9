/* ar_cmd.h — what a command means for routing: read-only, blocking, stateful, pub/sub...
 * A table of Redis 7's commands, looked up by the name the RESP parser kept; arguments
 * refine it (SELECT 0, HELLO 2, XREAD without BLOCK, CLIENT's subcommands). Pure. */
#ifndef AR_CMD_H
#define AR_CMD_H

#include "ar_resp.h"

enum ar_cmd_flag {
    AR_CMD_READONLY = 1 << 0,  /* may be served by a replica (outside MULTI/WATCH) */
    AR_CMD_BLOCKING = 1 << 1,  /* may wait indefinitely for another client (BLPOP, WAIT,
                                * XREAD BLOCK...): never given a per-operation timeout */
    AR_CMD_STATEFUL = 1 << 2,  /* changes or depends on the connection's state (MULTI,
                                * WATCH, SELECT n>0, CLIENT SETNAME/TRACKING/REPLY, HELLO 3,
                                * AUTH, blocking and pub/sub commands...): in multiplex
                                * mode the client moves to a dedicated connection first */
    AR_CMD_PUBSUB = 1 << 3,    /* enters subscribed mode (SUBSCRIBE, PSUBSCRIBE,
                                * SSUBSCRIBE): replies are no longer one per command */
    AR_CMD_MONITOR = 1 << 4,   /* MONITOR: likewise */
    AR_CMD_AUTH = 1 << 5,      /* AUTH, or HELLO with an AUTH option */
    AR_CMD_QUIT = 1 << 6,      /* QUIT: the server answers +OK and closes */
    AR_CMD_UNKNOWN = 1 << 7,   /* not in the table (still forwarded: the server decides) */
};

/* The flags of the command msg describes (a COMMAND-mode message with argc >= 1). */
unsigned ar_cmd_flags(const struct ar_resp_msg *msg);

/* The command's name for metrics: msg->name when it is in the table, else "unknown"
 * (so that garbage cannot create metric series). Static storage. */
const char *ar_cmd_metric_name(const struct ar_resp_msg *msg);

#endif
