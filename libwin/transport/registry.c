/*
 * The transports built into this library, in default preference order:
 * same-host transports first (kshim when its module is loaded, else shm),
 * then network transports (verbs when an RDMA device is there, else ofi).
 * core/select.c picks, per peer, the first one that reaches it.
 */
#include <stddef.h>

#include "transport/transport.h"

extern const struct win_transport win_kshim_transport;
extern const struct win_transport win_shm_transport;
extern const struct win_transport win_verbs_transport;
extern const struct win_transport win_ofi_transport;

const struct win_transport *const win_transports[] = {
	&win_kshim_transport,
	&win_shm_transport,
#ifdef WIN_HAVE_VERBS
	&win_verbs_transport,
#endif
#ifdef WIN_HAVE_OFI
	&win_ofi_transport,
#endif
	NULL,
};
