/*
 * Shared parts of the one-sided benchmarks: options, statistics, memcpy
 * reference and output.
 */
#define _GNU_SOURCE
#include "bench_common.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const bench_op_names[BOP_COUNT] = {
	"put", "get", "fop", "cas", "acc"
};

const char *const bench_sync_names[BSYNC_COUNT] = {
	"flush", "lock", "lock_all", "fence", "pscw", "pingpong"
};

const char *const bench_flavor_names[BFLAV_COUNT] = {
	"allocate", "create", "create_mem"
};

const char *const bench_kind_names[BKIND_COUNT] = {
	"lat", "bw"
};

static const char *const op_titles[BOP_COUNT] = {
	"put", "get", "fetch_op (int64 sum)", "compare_swap (int64)",
	"accumulate (int64 sum)"
};

static void usage(FILE *f, const char *prog, const char *extra_help)
{
	fprintf(f,
"Usage: %s [options]\n"
"One-sided latency and bandwidth, measured as the OSU one-sided\n"
"benchmarks do: rank 0 is the origin, rank 1 the target.\n"
"\n"
"  -o LIST     operations: put,get,fop,cas,acc or all (default all)\n"
"  -s LIST     sync modes: flush,lock,lock_all,fence,pscw,pingpong (pp)\n"
"              or all (default flush)\n"
"  -w LIST     window flavours: allocate,create,create_mem or all (default\n"
"              allocate); create_mem: created over memory from\n"
"              win_mem_alloc (MPI_Alloc_mem in mpi_rma_bench)\n"
"  -k LIST     measurements: lat,bw or all (default all; bw is put/get)\n"
"  -m MIN:MAX  message sizes for put/get, powers of two; K and M\n"
"              suffixes allowed (default 1:4M)\n"
"  -i N        timed iterations, messages <= %d B (default 10000)\n"
"  -x N        warm-up iterations, messages <= %d B (default 100)\n"
"  -I N        timed iterations, larger messages (default -i / 10)\n"
"  -X N        warm-up iterations, larger messages (default -x / 10)\n"
"  -r N        repetitions of each timed loop; the median is reported,\n"
"              with min and max (default 5)\n"
"  -W N        bandwidth: operations in flight per synchronization\n"
"              (default 64)\n"
"  -M          skip the memcpy reference\n"
"  -V          skip the data checks after the loops\n"
"  -P          latency with sync flush or pingpong: time every operation\n"
"              and report the median, min and max of single operations\n"
"              over all repetitions (as perftest's t_typical), not of\n"
"              each repetition's mean\n"
"  -L          put's sources and get's destinations in the origin's own\n"
"              window memory (registered with the window, as perftest's\n"
"              buffers are) instead of separate heap buffers\n"
"  -c, --csv   CSV output\n"
"  -j, --json  JSON output\n"
"  -h, --help  this help\n"
"%s"
"\n"
"Sync modes: flush = lock_all once, op + flush per iteration;\n"
"lock = lock(shared)/op/unlock; lock_all = lock_all/op/unlock_all;\n"
"fence = fence/op/fence, pscw = start/op/complete against post/wait\n"
"(fence and pscw latency: ping-pong, half the round trip).\n"
"pingpong = one-way put latency as ib_write_lat measures it: in lock_all\n"
"epochs rank 0 puts to rank 1, which polls its own window memory for the\n"
"message's last 8 bytes and puts back; half the round trip, no flush.\n"
"Put latency only, sizes of 8 B and more; naming it makes -o default to\n"
"put and, alone, -k default to lat.\n",
		prog, BENCH_LARGE_MSG, BENCH_LARGE_MSG,
		extra_help ? extra_help : "");
}

/* Parse a comma list of names into a bit mask; "all" sets every bit. */
static int parse_list(const char *arg, const char *const *names, int n,
		      unsigned *mask, unsigned *named)
{
	char *dup, *tok, *save = NULL;
	unsigned m = 0, nm = 0;
	int i, rc = 0;

	dup = strdup(arg);
	if (!dup)
		return -1;
	for (tok = strtok_r(dup, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "all")) {
			m = (1u << n) - 1;
			continue;
		}
		for (i = 0; i < n; i++)
			if (!strcmp(tok, names[i]))
				break;
		/* A few long spellings. */
		if (i == n && names == bench_kind_names) {
			if (!strcmp(tok, "latency"))
				i = BKIND_LAT;
			else if (!strcmp(tok, "bandwidth"))
				i = BKIND_BW;
		}
		if (i == n && names == bench_op_names) {
			if (!strcmp(tok, "fetch_op"))
				i = BOP_FOP;
			else if (!strcmp(tok, "compare_swap"))
				i = BOP_CAS;
			else if (!strcmp(tok, "accumulate"))
				i = BOP_ACC;
		}
		if (i == n && names == bench_sync_names) {
			if (!strcmp(tok, "lockall"))
				i = BSYNC_LOCK_ALL;
			else if (!strcmp(tok, "pp"))
				i = BSYNC_PP;
		}
		if (i == n) {
			rc = -1;
			break;
		}
		m |= 1u << i;
		nm |= 1u << i;
	}
	free(dup);
	if (!rc && !m)
		rc = -1;
	if (!rc) {
		*mask = m;
		if (named)
			*named = nm;
	}
	return rc;
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'G':
		v <<= 30;
		end++;
		break;
	}
	if (*end == 'i' || *end == 'B')
		end++;
	if (*end == 'B')
		end++;
	if (*end || v == 0 || v > BENCH_MAX_SIZE)
		return -1;
	*out = (size_t)v;
	return 0;
}

static int parse_long(const char *s, long min, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min)
		return -1;
	*out = v;
	return 0;
}

/*
 * Sync pingpong measures put latency only. Named in -s (not through
 * "all"), it makes -o default to put and refuses other operations; as the
 * only sync mode, it makes -k default to lat and needs sizes of 8 B.
 */
static int pingpong_opts(struct bench_opts *o, unsigned named_syncs,
			 int set_o, int set_k, const char *prog, int loud)
{
	const char *why = NULL;
	int alone = o->syncs == 1u << BSYNC_PP;

	if (!(named_syncs & (1u << BSYNC_PP)))
		return 0;
	if (!set_o)
		o->ops = 1u << BOP_PUT;
	if (alone && !set_k)
		o->kinds = 1u << BKIND_LAT;
	if (o->ops != 1u << BOP_PUT)
		why = "it measures put only (-o put)";
	else if (alone && !(o->kinds & (1u << BKIND_LAT)))
		why = "it measures latency only (-k lat)";
	else if (alone && o->max_size < 8)
		why = "its messages carry an 8-byte sequence number "
			"(-m with sizes of 8 B or more)";
	if (!why)
		return 0;
	if (loud)
		fprintf(stderr, "%s: sync pingpong: %s\n", prog, why);
	return -1;
}

int bench_parse_args(int argc, char **argv, struct bench_opts *o,
		     const char *prog, const char *extra,
		     int (*extra_cb)(struct bench_opts *o, int c,
				     const char *arg),
		     const char *extra_help, int loud)
{
	static const struct option longopts[] = {
		{ "csv", no_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char shortopts[128];
	long v;
	int c, large_i = 0, large_x = 0, set_o = 0, set_k = 0;
	unsigned named_syncs = 0;
	char *colon;

	memset(o, 0, sizeof(*o));
	o->nprocs = 2;
	o->ops = (1u << BOP_COUNT) - 1;
	o->syncs = 1u << BSYNC_FLUSH;
	o->flavors = 1u << BFLAV_ALLOCATE;
	o->kinds = (1u << BKIND_COUNT) - 1;
	o->min_size = 1;
	o->max_size = 4ul << 20;
	o->iters = 10000;
	o->warmup = 100;
	o->reps = 5;
	o->window = 64;
	o->fmt = BFMT_TABLE;
	o->memcpy_ref = 1;
	o->verify = 1;

	snprintf(shortopts, sizeof(shortopts), "o:s:w:k:m:i:x:I:X:r:W:MVPLcjh%s",
		 extra ? extra : "");
	optind = 1;
	opterr = loud;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (parse_list(optarg, bench_op_names, BOP_COUNT,
				       &o->ops, NULL))
				goto bad;
			set_o = 1;
			break;
		case 's':
			if (parse_list(optarg, bench_sync_names, BSYNC_COUNT,
				       &o->syncs, &named_syncs))
				goto bad;
			break;
		case 'w':
			if (parse_list(optarg, bench_flavor_names, BFLAV_COUNT,
				       &o->flavors, NULL))
				goto bad;
			break;
		case 'k':
			if (parse_list(optarg, bench_kind_names, BKIND_COUNT,
				       &o->kinds, NULL))
				goto bad;
			set_k = 1;
			break;
		case 'm':
			colon = strchr(optarg, ':');
			if (colon) {
				*colon = '\0';
				if ((*optarg &&
				     parse_size(optarg, &o->min_size)) ||
				    parse_size(colon + 1, &o->max_size)) {
					*colon = ':';
					goto bad;
				}
				*colon = ':';
			} else if (parse_size(optarg, &o->max_size)) {
				goto bad;
			}
			if (o->min_size > o->max_size)
				goto bad;
			break;
		case 'i':
			if (parse_long(optarg, 1, &o->iters))
				goto bad;
			break;
		case 'x':
			if (parse_long(optarg, 0, &o->warmup))
				goto bad;
			break;
		case 'I':
			if (parse_long(optarg, 1, &o->iters_large))
				goto bad;
			large_i = 1;
			break;
		case 'X':
			if (parse_long(optarg, 0, &o->warmup_large))
				goto bad;
			large_x = 1;
			break;
		case 'r':
			if (parse_long(optarg, 1, &v) || v > 1000)
				goto bad;
			o->reps = (int)v;
			break;
		case 'W':
			if (parse_long(optarg, 1, &v) || v > 65536)
				goto bad;
			o->window = (int)v;
			break;
		case 'M':
			o->memcpy_ref = 0;
			break;
		case 'V':
			o->verify = 0;
			break;
		case 'P':
			o->per_op = 1;
			break;
		case 'L':
			o->local_win = 1;
			break;
		case 'c':
			o->fmt = BFMT_CSV;
			break;
		case 'j':
			o->fmt = BFMT_JSON;
			break;
		case 'h':
			if (loud)
				usage(stdout, prog, extra_help);
			return 1;
		case '?':
			if (loud)
				usage(stderr, prog, extra_help);
			return -1;
		default:
			if (extra_cb && !extra_cb(o, c, optarg))
				break;
			goto bad;
		}
	}
	if (optind < argc) {
		if (loud)
			fprintf(stderr, "%s: unexpected argument '%s'\n", prog,
				argv[optind]);
		return -1;
	}
	if (pingpong_opts(o, named_syncs, set_o, set_k, prog, loud))
		return -1;
	if (!large_i)
		o->iters_large = o->iters >= 100 ? o->iters / 10 :
			o->iters;
	if (!large_x)
		o->warmup_large = o->warmup / 10;
	return 0;
bad:
	if (loud)
		fprintf(stderr, "%s: bad value '%s' for option -%c (see -h)\n",
			prog, optarg ? optarg : "", c);
	return -1;
}

long bench_lat_iters(const struct bench_opts *o, size_t size)
{
	long n, cap;

	if (size <= BENCH_LARGE_MSG)
		return o->iters;
	n = o->iters_large;
	cap = (long)(BENCH_LAT_BYTE_CAP / size);
	if (cap < 10)
		cap = 10;
	if (n > cap)
		n = cap;
	return n;
}

long bench_lat_warmup(const struct bench_opts *o, size_t size)
{
	return size <= BENCH_LARGE_MSG ? o->warmup : o->warmup_large;
}

long bench_bw_loops(const struct bench_opts *o, size_t size)
{
	long n = bench_lat_iters(o, size) / o->window;

	return n < 2 ? 2 : n;
}

long bench_bw_warmup(const struct bench_opts *o, size_t size)
{
	long n = bench_lat_warmup(o, size) / o->window;

	if (n < 1 && bench_lat_warmup(o, size) > 0)
		n = 1;
	return n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

void bench_stats(double *v, int n, double *median, double *min, double *max)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	*min = v[0];
	*max = v[n - 1];
	if (n % 2)
		*median = v[n / 2];
	else
		*median = (v[n / 2 - 1] + v[n / 2]) / 2;
}

void bench_memcpy_ref(void *dst, const void *src, size_t size, long count,
		      int reps, double *us, double *mbps)
{
	double t[reps > 0 ? reps : 1], med, lo, hi;
	uint64_t t0, t1;
	long i;
	int r;

	/* One untimed pass brings both buffers in. */
	memcpy(dst, src, size);
	for (r = 0; r < reps; r++) {
		t0 = bench_now();
		for (i = 0; i < count; i++) {
			memcpy(dst, src, size);
			/* Keep every copy: the compiler may not drop it. */
			__asm__ __volatile__("" : : "r"(dst) : "memory");
		}
		t1 = bench_now();
		t[r] = (double)(t1 - t0) / 1e3 / (double)count;
	}
	bench_stats(t, reps, &med, &lo, &hi);
	*us = med;
	*mbps = med > 0 ? (double)size / med : 0;
}

void *bench_alloc(size_t size)
{
	long pg = sysconf(_SC_PAGESIZE);
	void *p = NULL;

	if (pg <= 0)
		pg = 4096;
	if (posix_memalign(&p, (size_t)pg, size ? size : 1)) {
		fprintf(stderr, "out of memory (%zu bytes)\n", size);
		exit(1);
	}
	memset(p, 0, size);
	return p;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

static struct {
	int started;
	int nresults;
	int last_kind, last_op, last_sync, last_flavor;
	char **notes;
	int nnotes;
} out = { .last_kind = -1 };

static void cpu_model(char *buf, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ':');

		if (strncmp(line, "model name", 10) || !p)
			continue;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		p[strcspn(p, "\n")] = '\0';
		snprintf(buf, len, "%s", p);
		break;
	}
	fclose(f);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

void bench_out_begin(const struct bench_opts *o, const struct bench_meta *m)
{
	char host[256] = "unknown", cpu[256];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	gethostname(host, sizeof(host) - 1);
	cpu_model(cpu, sizeof(cpu));
	out.started = 1;

	switch (o->fmt) {
	case BFMT_TABLE:
		printf("# %s (%s): one-sided latency and bandwidth, "
		       "%d processes\n", m->prog, m->version, m->nprocs);
		printf("# host %s, %ld CPUs, %s\n", host, ncpu, cpu);
		if (m->extra && *m->extra)
			printf("# %s\n", m->extra);
		printf("# median of %d repetitions, with min and max; "
		       "1 MB = 10^6 bytes\n", o->reps);
		break;
	case BFMT_CSV:
		printf("# %s (%s), %d processes, host %s, %ld CPUs, %s\n",
		       m->prog, m->version, m->nprocs, host, ncpu, cpu);
		if (m->extra && *m->extra)
			printf("# %s\n", m->extra);
		printf("impl,kind,op,sync,flavor,transport,size,iters,reps,"
		       "median,min,max,unit,memcpy_us,memcpy_mbps,"
		       "verified\n");
		break;
	case BFMT_JSON:
		printf("{\n  \"program\": ");
		json_str(m->prog);
		printf(",\n  \"impl\": ");
		json_str(m->impl);
		printf(",\n  \"version\": ");
		json_str(m->version);
		printf(",\n  \"nprocs\": %d,\n  \"settings\": ", m->nprocs);
		json_str(m->extra ? m->extra : "");
		printf(",\n  \"host\": ");
		json_str(host);
		printf(",\n  \"cpus\": %ld,\n  \"cpu_model\": ", ncpu);
		json_str(cpu);
		printf(",\n  \"reps\": %d,\n  \"window\": %d,\n"
		       "  \"results\": [", o->reps, o->window);
		break;
	}
	fflush(stdout);
}

static const char *verified_str(int v)
{
	return v > 0 ? "ok" : v < 0 ? "MISMATCH" : "-";
}

static void table_header(const struct bench_opts *o,
			 const struct bench_result *r)
{
	printf("\n# %s %s, sync %s, window %s, transport %s",
	       op_titles[r->op],
	       r->kind == BKIND_BW ? "bandwidth" :
	       r->sync == BSYNC_PP ? "latency (one way)" : "latency",
	       bench_sync_names[r->sync], bench_flavor_names[r->flavor],
	       r->transport ? r->transport : "unknown");
	if (r->kind == BKIND_BW)
		printf(", %d ops in flight", o->window);
	printf("\n");
	if (r->kind == BKIND_LAT)
		printf("# %-9s %14s %12s %12s %12s %9s %6s\n", "Size",
		       "Latency (us)", "Min (us)", "Max (us)",
		       "memcpy (us)", "Iters", "Check");
	else
		printf("# %-9s %16s %12s %12s %14s %9s %6s\n", "Size",
		       "Bandwidth (MB/s)", "Min (MB/s)", "Max (MB/s)",
		       "memcpy (MB/s)", "x memcpy", "Check");
}

void bench_out_result(const struct bench_opts *o, const struct bench_meta *m,
		      const struct bench_result *r)
{
	const char *unit = r->kind == BKIND_LAT ? "us" : "MB/s";

	switch (o->fmt) {
	case BFMT_TABLE:
		if (r->kind != out.last_kind || r->op != out.last_op ||
		    r->sync != out.last_sync || r->flavor != out.last_flavor)
			table_header(o, r);
		out.last_kind = r->kind;
		out.last_op = r->op;
		out.last_sync = r->sync;
		out.last_flavor = r->flavor;
		if (r->kind == BKIND_LAT) {
			printf("%-11zu %14.3f %12.3f %12.3f ", r->size,
			       r->median, r->min, r->max);
			if (r->memcpy_us > 0)
				printf("%12.3f", r->memcpy_us);
			else
				printf("%12s", "-");
			printf(" %9ld %6s\n", r->iters,
			       verified_str(r->verified));
		} else {
			printf("%-11zu %16.2f %12.2f %12.2f ", r->size,
			       r->median, r->min, r->max);
			if (r->memcpy_mbps > 0)
				printf("%14.2f %9.3f", r->memcpy_mbps,
				       r->median / r->memcpy_mbps);
			else
				printf("%14s %9s", "-", "-");
			printf(" %6s\n", verified_str(r->verified));
		}
		break;
	case BFMT_CSV:
		printf("%s,%s,%s,%s,%s,%s,%zu,%ld,%d,%.4f,%.4f,%.4f,%s,"
		       "%.4f,%.2f,%s\n", m->impl, bench_kind_names[r->kind],
		       bench_op_names[r->op], bench_sync_names[r->sync],
		       bench_flavor_names[r->flavor],
		       r->transport ? r->transport : "unknown", r->size,
		       r->iters, r->reps, r->median, r->min, r->max, unit,
		       r->memcpy_us, r->memcpy_mbps,
		       verified_str(r->verified));
		break;
	case BFMT_JSON:
		printf("%s\n    {\"kind\": \"%s\", \"op\": \"%s\", "
		       "\"sync\": \"%s\", \"flavor\": \"%s\", \"transport\": ",
		       out.nresults ? "," : "", bench_kind_names[r->kind],
		       bench_op_names[r->op], bench_sync_names[r->sync],
		       bench_flavor_names[r->flavor]);
		json_str(r->transport ? r->transport : "unknown");
		printf(", \"size\": %zu, \"iters\": %ld, \"reps\": %d, "
		       "\"median\": %.4f, \"min\": %.4f, \"max\": %.4f, "
		       "\"unit\": \"%s\", \"memcpy_us\": %.4f, "
		       "\"memcpy_mbps\": %.2f, \"verified\": \"%s\"}",
		       r->size, r->iters, r->reps, r->median, r->min, r->max,
		       unit, r->memcpy_us, r->memcpy_mbps,
		       verified_str(r->verified));
		break;
	}
	out.nresults++;
	fflush(stdout);
}

void bench_out_note(const struct bench_opts *o, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	char **n;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);

	if (o->fmt != BFMT_JSON) {
		if (o->fmt == BFMT_TABLE && out.last_kind != -1) {
			printf("\n");
			/* The next result starts a new table. */
			out.last_kind = -1;
		}
		printf("# %s\n", buf);
		fflush(stdout);
		return;
	}
	n = realloc(out.notes, sizeof(*n) * (size_t)(out.nnotes + 1));
	if (!n)
		return;
	out.notes = n;
	out.notes[out.nnotes] = strdup(buf);
	if (out.notes[out.nnotes])
		out.nnotes++;
}

void bench_out_end(const struct bench_opts *o, const struct bench_meta *m)
{
	int i;

	if (!out.started)
		return;
	if (o->fmt == BFMT_JSON) {
		printf("\n  ],\n  \"notes\": [");
		for (i = 0; i < out.nnotes; i++) {
			printf("%s\n    ", i ? "," : "");
			json_str(out.notes[i]);
			free(out.notes[i]);
		}
		printf("\n  ]\n}\n");
		free(out.notes);
		out.notes = NULL;
		out.nnotes = 0;
	}
	fflush(stdout);
}
