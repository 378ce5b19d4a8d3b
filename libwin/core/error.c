/* Status codes, per-thread error messages and logging. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"

static __thread char last_error[512];

const char *win_strerror(int status)
{
	switch (status) {
	case WIN_OK: return "success";
	case WIN_ERR_ARG: return "invalid argument";
	case WIN_ERR_RANK: return "invalid rank";
	case WIN_ERR_DISP: return "displacement outside the target window";
	case WIN_ERR_LENGTH: return "transfer runs past the end of the target window";
	case WIN_ERR_DATATYPE: return "invalid or misaligned datatype";
	case WIN_ERR_OP: return "invalid operation for the datatype";
	case WIN_ERR_SYNC: return "not allowed in the current epoch";
	case WIN_ERR_HANDLE: return "invalid or freed handle";
	case WIN_ERR_NOMEM: return "out of memory";
	case WIN_ERR_SYS: return "system call failed";
	case WIN_ERR_PERM: return "permission denied by the kernel";
	case WIN_ERR_PEER: return "a peer process died or left";
	case WIN_ERR_TIMEOUT: return "timed out";
	case WIN_ERR_UNSUPPORTED: return "not supported";
	case WIN_ERR_TRANSPORT: return "transport failure";
	case WIN_ERR_MISMATCH: return "members disagree";
	}
	return "unknown status code";
}

const char *win_last_error(void)
{
	return last_error;
}

/* Messages may quote the previous one (win_last_error() as an argument),
 * so they are formatted aside first. */
static int vseterr(int status, int errnum, const char *fmt, va_list ap)
{
	char msg[sizeof(last_error)];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);

	if (errnum && n >= 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(errnum));
	memcpy(last_error, msg, sizeof(msg));
	return status;
}

int win_seterr(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vseterr(status, 0, fmt, ap);
	va_end(ap);
	return status;
}

int win_seterr_sys(int status, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vseterr(status, errnum, fmt, ap);
	va_end(ap);
	return status;
}

void win_log(struct win_ctx *ctx, int level, const char *fmt, ...)
{
	static const char *const names[] = { "", "error", "warn", "info",
					     "debug" };
	va_list ap;

	if (ctx && level > ctx->log_level)
		return;
	if (!ctx && level > WIN_LOG_ERROR)
		return;
	fprintf(stderr, "libwin[%d] %s: ", (int)getpid(), names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
