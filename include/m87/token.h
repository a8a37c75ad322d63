/* A secret token read from a file or a pipe (src/common/token.c), so that it never has to be
 * given on a command line, where `ps` shows it to every user of the machine. */
#ifndef M87_TOKEN_H
#define M87_TOKEN_H

#include "m87/error.h"

/* The most bytes a token source may hold: tokens are about 50 bytes; a bigger file is a wrong
 * file, not a token. */
#define M87_TOKEN_MAX 4096u

/* The token fd gives until its end (a file, a pipe): one line, a trailing "\n" (or "\r\n")
 * dropped. what names the source in messages ("token file '/etc/m87/token'", "stdin"). The
 * returned string is the caller's. Errors, whose messages never quote the token: M87_E_IO
 * "read WHAT: ...", M87_E_TOOBIG "WHAT exceeds the limit of N bytes", M87_E_INVAL "WHAT is
 * empty", "WHAT holds more than one line", and those of m87_token_check. */
char *m87_token_read(int fd, const char *what, struct m87_error **err);

/* 0 when token can travel in an HTTP header: not empty, no space, no control character. Else
 * M87_E_INVAL "WHAT is empty" or "WHAT holds a space or a control character". */
int m87_token_check(const char *token, const char *what, struct m87_error **err);

#endif
