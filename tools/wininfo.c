/*
 * wininfo: what libwin can use on this machine. Opens a context with every
 * transport built in (or the ones WIN_TRANSPORTS names) and prints, for
 * each, whether it is available and what runs natively or is emulated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "win.h"

int main(int argc, char **argv)
{
	win_ctx_t *ctx;
	int rc;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: wininfo\n"
		       "Lists libwin's transports and what each offers here.\n"
		       "WIN_TRANSPORTS=list limits the transports tried.\n");
		return 0;
	}
	rc = win_init(NULL, &ctx);
	if (rc) {
		fprintf(stderr, "wininfo: %s\n", win_last_error());
		return 1;
	}
	rc = win_describe(ctx, stdout);
	win_finalize(ctx);
	return rc ? 1 : 0;
}
