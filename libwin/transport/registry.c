/* The transports built into this library, in default preference order. */
#include <stddef.h>

#include "transport/transport.h"

extern const struct win_transport win_shm_transport;

const struct win_transport *const win_transports[] = {
	&win_shm_transport,
	NULL,
};
