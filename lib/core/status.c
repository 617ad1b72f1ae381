/* status.c -- what each status code means, in one line.
 * Left out on purpose: the details, which the call that failed reports itself
 * (a pp_check, an err buffer) where it has them.
 */
#include "pp.h"

const char *pp_strerror(pp_status st)
{
    switch (st) {
    case PP_OK: return "no error";
    case PP_EARG: return "bad argument";
    case PP_EMPI: return "an MPI call failed";
    case PP_ENOMEM: return "out of memory";
    case PP_ESCHED: return "the schedule is incomplete or would deadlock";
    case PP_EIO: return "a file could not be read or written";
    case PP_EPARSE: return "text could not be parsed";
    case PP_EFAULT: return "a failure injected on purpose (--fault or PP_FAULT)";
    case PP_EHANG: return "the step stopped moving (the watchdog's report says where and why)";
    case PP_EDEVICE: return "the GPU failed (the first CUDA error is reported with it)";
    }
    return "unknown status";
}
