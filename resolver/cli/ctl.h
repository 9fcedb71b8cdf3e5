/*
 * `erdns ctl`: the parts of the client shared by cmd_ctl.c (options, the
 * socket exchange) and ctl_print.c (the tables for people).
 */
#ifndef ERDNS_CLI_CTL_H
#define ERDNS_CLI_CTL_H

#include <cjson/cJSON.h>

/* Prints a reply whose "ok" is true for people (SPEC 4: tables, key: value
 * lines, or the server's text), by the command that was sent. */
void ctl_print(const char *cmd, const cJSON *reply);

#endif
