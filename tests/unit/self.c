/*
 * A context and a group of one member, for single-process tests.
 */
#include <stdlib.h>
#include <string.h>

#include "self.h"

void self_setup(struct self *s, int timeout_ms)
{
	win_config_t cfg;
	char name[64];

	memset(&cfg, 0, sizeof(cfg));
	cfg.timeout_ms = timeout_ms;
	memset(s, 0, sizeof(*s));
	ck_assert_ok(win_init(&cfg, &s->ctx));
	unique_name(name, sizeof(name), "self");
	ck_assert_ok(win_group_join(s->ctx, name, 1, 0, &s->group));
	ck_assert_int_eq(win_group_rank(s->group), 0);
	ck_assert_int_eq(win_group_size(s->group), 1);
}

void self_teardown(struct self *s)
{
	if (s->group)
		ck_assert_ok(win_group_leave(s->group));
	if (s->ctx)
		ck_assert_ok(win_finalize(s->ctx));
	s->group = NULL;
	s->ctx = NULL;
	while (s->nmem > 0)
		free(s->mem[--s->nmem]);
}

win_t *self_win(struct self *s, int flavor, size_t size, int disp_unit,
		unsigned flags, void **base)
{
	win_opts_t opts = { .flags = flags };
	win_t *w = NULL;
	void *mem = NULL;
	int rc;

	if (flavor == WIN_FLAVOR_CREATE) {
		if (size) {
			mem = aligned_alloc(64, (size + 63) & ~(size_t)63);
			ck_assert_ptr_nonnull(mem);
			memset(mem, 0, size);
			ck_assert_int_lt(s->nmem, 16);
			s->mem[s->nmem++] = mem;
		}
		rc = win_create(s->group, mem, size, disp_unit, &opts, &w);
	} else {
		rc = win_allocate(s->group, size, disp_unit, &opts, &mem, &w);
	}
	if (rc == WIN_ERR_PERM)
		ck_abort_msg("the kernel refused window access "
			     "(WIN_ERR_PERM): %s", win_last_error());
	ck_assert_msg(rc == WIN_OK, "opening a %s window of %zu bytes: %s "
		      "(%s)", flavor == WIN_FLAVOR_CREATE ? "created" :
		      "allocated", size, rc_name(rc), win_last_error());
	ck_assert_ptr_nonnull(w);
	if (base)
		*base = mem;
	return w;
}
