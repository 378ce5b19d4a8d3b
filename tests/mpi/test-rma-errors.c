/*
 * Error paths with MPI_ERRORS_RETURN and a user error handler. Checks that
 * every MPI library must pass run everywhere; the error classes that only
 * libwin_pmpi promises (range, epoch, op and type errors) are checked when
 * it is loaded, and reported as not checked otherwise. Dynamic windows:
 * only attached memory is reachable.
 */
#include "test-rma-common.h"

static int handler_calls, handler_class;

static void handler(MPI_Win *win, int *code, ...)
{
	(void)win;
	handler_calls++;
	MPI_Error_class(*code, &handler_class);
}

static void expect(int rc, int cls, const char *what)
{
	CHECK(rc != MPI_SUCCESS && t_class(rc) == cls, "%s: rc %d class %d "
	      "(%s), want class %d", what, rc, t_class(rc),
	      rc ? t_errstr(rc) : "success", cls);
}

/* Target memory of the dynamic-window checks: 16 ints, of which [4, 8) are
 * attached in the middle phase. */
#define DYN_N 16
#define DYN_LO 4
#define DYN_HI 8

static void dyn_expect_mem(const int *mem, int left, int attached_once,
			   const char *when)
{
	for (int i = 0; i < DYN_N; i++) {
		int want = 1000 + i;

		if (attached_once && i >= DYN_LO && i < DYN_HI)
			want = left * 100 + i;
		CHECK(mem[i] == want, "dynamic, %s: mem[%d] = %d, want %d",
		      when, i, mem[i], want);
	}
}

/*
 * Dynamic windows reach only attached memory: an access outside every
 * attached region is refused with MPI_ERR_RMA_RANGE (libwin_pmpi) and the
 * target's memory around it stays as it was; after MPI_Win_attach it works;
 * after MPI_Win_detach and a new epoch it is refused again; attaching
 * beyond the interposer's capacity fails cleanly.
 */
static void dynamic(int strict)
{
	int right = (t_rank + 1) % t_size, left = (t_rank + t_size - 1) % t_size;
	int *mem = malloc(DYN_N * sizeof(int)), v[4], got[4], res = 0, rc, i;
	MPI_Aint here, *addr = malloc(sizeof(MPI_Aint) * (size_t)t_size), at;
	char *many;
	MPI_Win dw;

	for (i = 0; i < DYN_N; i++)
		mem[i] = 1000 + i;
	MPI_Get_address(mem, &here);
	MPI_Allgather(&here, 1, MPI_AINT, addr, 1, MPI_AINT, MPI_COMM_WORLD);
	at = addr[right] + DYN_LO * (MPI_Aint)sizeof(int);
	for (i = 0; i < 4; i++)
		v[i] = t_rank * 100 + DYN_LO + i;
	CHECK_RC(MPI_Win_create_dynamic(MPI_INFO_NULL, MPI_COMM_WORLD, &dw));
	CHECK_RC(MPI_Win_set_errhandler(dw, MPI_ERRORS_RETURN));

	/* nothing attached yet */
	CHECK_RC(MPI_Win_lock_all(0, dw));
	if (strict) {
		expect(MPI_Put(v, 4, MPI_INT, right, at, 4, MPI_INT, dw),
		       MPI_ERR_RMA_RANGE, "dynamic: put before attach");
		expect(MPI_Get(got, 4, MPI_INT, right, at, 4, MPI_INT, dw),
		       MPI_ERR_RMA_RANGE, "dynamic: get before attach");
		expect(MPI_Accumulate(v, 1, MPI_INT, right, at, 1, MPI_INT,
				      MPI_SUM, dw), MPI_ERR_RMA_RANGE,
		       "dynamic: accumulate before attach");
		expect(MPI_Fetch_and_op(v, &res, MPI_INT, right, at, MPI_SUM,
					dw), MPI_ERR_RMA_RANGE,
		       "dynamic: fetch_and_op before attach");
	}
	CHECK_RC(MPI_Win_unlock_all(dw));
	MPI_Barrier(MPI_COMM_WORLD);
	dyn_expect_mem(mem, left, 0, "before attach");

	/* [DYN_LO, DYN_HI) attached: reachable, and nothing beyond it */
	CHECK_RC(MPI_Win_attach(dw, mem + DYN_LO,
				(DYN_HI - DYN_LO) * sizeof(int)));
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK_RC(MPI_Win_fence(0, dw));
	CHECK_RC(MPI_Put(v, 4, MPI_INT, right, at, 4, MPI_INT, dw));
	if (strict) {
		expect(MPI_Put(v, 2, MPI_INT, right,
			       at + 3 * (MPI_Aint)sizeof(int), 2, MPI_INT, dw),
		       MPI_ERR_RMA_RANGE, "dynamic: put across the region's end");
		expect(MPI_Get(got, 1, MPI_INT, right,
			       at - (MPI_Aint)sizeof(int), 1, MPI_INT, dw),
		       MPI_ERR_RMA_RANGE, "dynamic: get just before the region");
	}
	CHECK_RC(MPI_Win_fence(0, dw));
	memset(got, 0, sizeof(got));
	CHECK_RC(MPI_Get(got, 4, MPI_INT, right, at, 4, MPI_INT, dw));
	CHECK_RC(MPI_Win_fence(MPI_MODE_NOSUCCEED, dw));
	for (i = 0; i < 4; i++)
		CHECK(got[i] == v[i], "dynamic: got[%d] = %d, want %d", i,
		      got[i], v[i]);
	dyn_expect_mem(mem, left, 1, "attached");

	/* detached, then a new epoch: refused again */
	CHECK_RC(MPI_Win_detach(dw, mem + DYN_LO));
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK_RC(MPI_Win_lock(MPI_LOCK_SHARED, right, 0, dw));
	if (strict) {
		int w[4] = { -7, -7, -7, -7 };

		expect(MPI_Put(w, 4, MPI_INT, right, at, 4, MPI_INT, dw),
		       MPI_ERR_RMA_RANGE, "dynamic: put after detach");
		expect(MPI_Get(got, 1, MPI_INT, right, at, 1, MPI_INT, dw),
		       MPI_ERR_RMA_RANGE, "dynamic: get after detach");
	}
	CHECK_RC(MPI_Win_unlock(right, dw));
	MPI_Barrier(MPI_COMM_WORLD);
	dyn_expect_mem(mem, left, 1, "after detach");

	/* attached inside a long epoch: the origin's first try misses its
	 * copy of the table, reads it again and goes through */
	CHECK_RC(MPI_Win_lock_all(0, dw));
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK_RC(MPI_Win_attach(dw, mem + DYN_LO,
				(DYN_HI - DYN_LO) * sizeof(int)));
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK_RC(MPI_Get(got, 4, MPI_INT, right, at, 4, MPI_INT, dw));
	CHECK_RC(MPI_Win_flush(right, dw));
	for (i = 0; i < 4; i++)
		CHECK(got[i] == v[i], "dynamic, attached in the epoch: "
		      "got[%d] = %d, want %d", i, got[i], v[i]);
	CHECK_RC(MPI_Win_unlock_all(dw));
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK_RC(MPI_Win_detach(dw, mem + DYN_LO));

	/* more regions than the interposer keeps: a clean refusal, and
	 * everything attached before it can be detached */
	if (strict) {
		many = malloc(256);
		for (i = 0; i < 256; i++) {
			rc = MPI_Win_attach(dw, many + i, 1);
			if (rc != MPI_SUCCESS)
				break;
		}
		CHECK(i > 0 && i < 256 && t_class(rc) == MPI_ERR_RMA_ATTACH,
		      "dynamic: attach no. %d: class %d, want "
		      "MPI_ERR_RMA_ATTACH", i + 1, t_class(rc));
		while (i-- > 0)
			CHECK_RC(MPI_Win_detach(dw, many + i));
		CHECK_RC(MPI_Win_attach(dw, many, 256));
		CHECK_RC(MPI_Win_detach(dw, many));
		free(many);
	}
	CHECK_RC(MPI_Win_free(&dw));
	free(addr);
	free(mem);
}

/*
 * MPI_Rput, MPI_Rget, MPI_Raccumulate and MPI_Rget_accumulate belong to
 * passive-target epochs: refused with MPI_ERR_RMA_SYNC in a fence or
 * start epoch, outside any epoch, and to a target the origin has not
 * locked; no request is left behind and the target is untouched.
 * (libwin_pmpi only: for plain MPI these calls would be erroneous.)
 */
static void requests_need_passive(void)
{
	int right = (t_rank + 1) % t_size, left = (t_rank + t_size - 1) % t_size;
	int *b, v[2] = { 5, 6 }, r[2], i;
	MPI_Group world, to, from;
	MPI_Request rq;
	MPI_Win w;
	const char *when = "";

	CHECK_RC(MPI_Win_allocate(2 * sizeof(int), sizeof(int), MPI_INFO_NULL,
				  MPI_COMM_WORLD, &b, &w));
	CHECK_RC(MPI_Win_set_errhandler(w, MPI_ERRORS_RETURN));
	b[0] = b[1] = 0;
	MPI_Comm_group(MPI_COMM_WORLD, &world);
	MPI_Group_incl(world, 1, &right, &to);
	MPI_Group_incl(world, 1, &left, &from);
	MPI_Barrier(MPI_COMM_WORLD);
	/* a fence epoch, a start epoch, no epoch, a lock of another rank */
	for (int phase = 0; phase < 4; phase++) {
		int t = right;

		if (phase == 0) {
			when = "in a fence epoch";
			CHECK_RC(MPI_Win_fence(0, w));
		} else if (phase == 1) {
			when = "in a start epoch";
			CHECK_RC(MPI_Win_post(from, 0, w));
			CHECK_RC(MPI_Win_start(to, 0, w));
		} else if (phase == 2) {
			when = "outside any epoch";
		} else if (t_size > 1) {
			when = "to a rank not locked";
			CHECK_RC(MPI_Win_lock(MPI_LOCK_SHARED, right, 0, w));
			t = t_rank;
		} else {
			break;
		}
		memset(&rq, 0x5a, sizeof(rq));
		expect(MPI_Rput(v, 2, MPI_INT, t, 0, 2, MPI_INT, w, &rq),
		       MPI_ERR_RMA_SYNC, when);
		CHECK(rq == MPI_REQUEST_NULL, "Rput %s left a request", when);
		expect(MPI_Rget(r, 2, MPI_INT, t, 0, 2, MPI_INT, w, &rq),
		       MPI_ERR_RMA_SYNC, when);
		expect(MPI_Raccumulate(v, 2, MPI_INT, t, 0, 2, MPI_INT, MPI_SUM,
				       w, &rq), MPI_ERR_RMA_SYNC, when);
		expect(MPI_Rget_accumulate(v, 2, MPI_INT, r, 2, MPI_INT, t, 0,
					   2, MPI_INT, MPI_SUM, w, &rq),
		       MPI_ERR_RMA_SYNC, when);
		if (phase == 0) {
			CHECK_RC(MPI_Win_fence(MPI_MODE_NOSUCCEED, w));
		} else if (phase == 1) {
			CHECK_RC(MPI_Win_complete(w));
			CHECK_RC(MPI_Win_wait(w));
		} else if (phase == 3) {
			CHECK_RC(MPI_Win_unlock(right, w));
		}
		MPI_Barrier(MPI_COMM_WORLD);
		for (i = 0; i < 2; i++)
			CHECK(b[i] == 0, "request ops %s: b[%d] = %d", when, i,
			      b[i]);
		MPI_Barrier(MPI_COMM_WORLD);
	}
	/* and in a passive-target epoch they work */
	CHECK_RC(MPI_Win_lock(MPI_LOCK_SHARED, right, 0, w));
	CHECK_RC(MPI_Raccumulate(v, 2, MPI_INT, right, 0, 2, MPI_INT, MPI_SUM,
				 w, &rq));
	CHECK_RC(MPI_Wait(&rq, MPI_STATUS_IGNORE));
	CHECK_RC(MPI_Win_unlock(right, w));
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK(b[0] == 5 && b[1] == 6, "Raccumulate under a lock: %d %d", b[0],
	      b[1]);
	MPI_Group_free(&to);
	MPI_Group_free(&from);
	MPI_Group_free(&world);
	CHECK_RC(MPI_Win_free(&w));
}

int main(int argc, char **argv)
{
	int *b, v = 1, rc, res, strict, two[2];
	char c = 1;
	MPI_Errhandler eh;
	MPI_Win win;
	char msg[MPI_MAX_ERROR_STRING];
	int len;

	t_init(&argc, &argv);
	strict = t_interposed();
	CHECK_RC(MPI_Win_allocate(4 * sizeof(int), sizeof(int), MPI_INFO_NULL,
				  MPI_COMM_WORLD, &b, &win));
	CHECK_RC(MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN));
	b[0] = b[1] = b[2] = b[3] = 0;
	MPI_Barrier(MPI_COMM_WORLD);

	CHECK_RC(MPI_Win_lock_all(0, win));
	/* a rank outside the window's group */
	expect(MPI_Put(&v, 1, MPI_INT, t_size, 0, 1, MPI_INT, win),
	       MPI_ERR_RANK, "put to rank size");
	expect(MPI_Get(&v, 1, MPI_INT, -5, 0, 1, MPI_INT, win),
	       MPI_ERR_RANK, "get from rank -5");
	/* MPI_PROC_NULL is a no-op */
	CHECK_RC(MPI_Put(&v, 1, MPI_INT, MPI_PROC_NULL, 0, 1, MPI_INT, win));
	if (strict) {
		/* past the end of the target's part */
		rc = MPI_Put(&v, 1, MPI_INT, 0, 4, 1, MPI_INT, win);
		CHECK(t_class(rc) == MPI_ERR_RMA_RANGE ||
		      t_class(rc) == MPI_ERR_DISP, "put past the end: class %d",
		      t_class(rc));
		rc = MPI_Get(two, 2, MPI_INT, 0, 3, 2, MPI_INT, win);
		CHECK(t_class(rc) == MPI_ERR_RMA_RANGE ||
		      t_class(rc) == MPI_ERR_DISP, "get across the end: class "
		      "%d", t_class(rc));
		expect(MPI_Put(&v, 1, MPI_INT, 0, -1, 1, MPI_INT, win),
		       MPI_ERR_DISP, "negative displacement");
		/* displacement times unit (4) wraps to 0 in 64 bits */
		rc = MPI_Put(&v, 1, MPI_INT, 0, (MPI_Aint)1 << 62, 1, MPI_INT,
			     win);
		CHECK(t_class(rc) == MPI_ERR_RMA_RANGE ||
		      t_class(rc) == MPI_ERR_DISP, "displacement that "
		      "overflows: class %d", t_class(rc));
		/* ops and types libwin does not serve */
		expect(MPI_Accumulate(&v, 1, MPI_INT, 0, 0, 1, MPI_INT,
				      MPI_LAND, win), MPI_ERR_OP, "MPI_LAND");
		expect(MPI_Fetch_and_op(&v, &res, MPI_INT, 0, 0, MPI_MAXLOC,
					win), MPI_ERR_OP, "MPI_MAXLOC");
		expect(MPI_Accumulate(&c, 1, MPI_SIGNED_CHAR, 0, 0, 1,
				      MPI_SIGNED_CHAR, MPI_SUM, win),
		       MPI_ERR_TYPE, "accumulate on signed char");
		expect(MPI_Compare_and_swap(&c, &c, &c, MPI_CHAR, 0, 0, win),
		       MPI_ERR_TYPE, "compare_and_swap on char");
		/* the message names the cause */
		rc = MPI_Accumulate(&v, 1, MPI_INT, 0, 0, 1, MPI_INT, MPI_LOR,
				    win);
		msg[0] = '\0';
		MPI_Error_string(rc, msg, &len);
#ifndef MPICH_VERSION
		/* (MPICH cannot show the strings of added error codes) */
		CHECK(strstr(msg, "libwin") != NULL, "error string '%s'", msg);
#endif
	} else if (t_rank == 0) {
		printf("test-rma-errors: range, op and type classes not checked "
		       "(only libwin_pmpi promises them)\n");
	}
	CHECK_RC(MPI_Win_unlock_all(win));
	/* after the epoch: no one-sided operation is allowed */
	if (strict)
		expect(MPI_Put(&v, 1, MPI_INT, 0, 0, 1, MPI_INT, win),
		       MPI_ERR_RMA_SYNC, "put outside an epoch");

	/* a user error handler sees the error, with its class */
	CHECK_RC(MPI_Win_create_errhandler(handler, &eh));
	CHECK_RC(MPI_Win_set_errhandler(win, eh));
	handler_calls = 0;
	rc = MPI_Win_call_errhandler(win, MPI_ERR_RMA_SYNC);
	CHECK(handler_calls == 1 && handler_class == MPI_ERR_RMA_SYNC,
	      "call_errhandler: %d calls, class %d", handler_calls,
	      handler_class);
	CHECK_RC(MPI_Win_lock_all(0, win));
	handler_calls = 0;
	rc = MPI_Put(&v, 1, MPI_INT, t_size + 3, 0, 1, MPI_INT, win);
	CHECK(handler_calls == 1 && handler_class == MPI_ERR_RANK,
	      "handler on a bad rank: %d calls, class %d", handler_calls,
	      handler_class);
	CHECK_RC(MPI_Win_unlock_all(win));
	MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
	MPI_Errhandler_free(&eh);

	/* no_locks: a window promised never to be locked */
	if (strict) {
		MPI_Info info;
		MPI_Win nl;
		int *p;

		MPI_Info_create(&info);
		MPI_Info_set(info, "no_locks", "true");
		CHECK_RC(MPI_Win_allocate(sizeof(int), sizeof(int), info,
					  MPI_COMM_WORLD, &p, &nl));
		MPI_Info_free(&info);
		MPI_Win_set_errhandler(nl, MPI_ERRORS_RETURN);
		rc = MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, nl);
		CHECK(rc != MPI_SUCCESS, "lock on a no_locks window succeeded");
		if (rc == MPI_SUCCESS)
			MPI_Win_unlock(0, nl);
		CHECK_RC(MPI_Win_free(&nl));
	}

	/* free inside an epoch is refused, then works after it */
	if (strict) {
		CHECK_RC(MPI_Win_lock_all(0, win));
		expect(MPI_Win_free(&win), MPI_ERR_RMA_SYNC,
		       "free inside an epoch");
		CHECK_RC(MPI_Win_unlock_all(win));
	}
	CHECK_RC(MPI_Win_free(&win));
	if (strict)
		requests_need_passive();
	dynamic(strict);
	return t_finish("test-rma-errors");
}
