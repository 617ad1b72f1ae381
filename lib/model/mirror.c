/* mirror.c -- GPU ranks: the host-side buffers a message travels in to and
 * from MPI.  Tensors live in device memory; every message that crosses to
 * another rank has a buffer of its own, kept from step to step (page-locked
 * host memory, or device memory where the MPI library reads it).  An
 * outgoing message is copied into it on the GPU's second stream right after
 * the compute that made it, and the executor posts its send once that copy
 * has ended (the trainer's ready hook), while the next compute runs.  The
 * collectives' sums are done on the host, so their vectors go out and back
 * through one scratch buffer.  On the CPU none of this is made.
 */
#include "trainer.h"

#include <stdlib.h>

/* The message buffers only (the scratch stays). */
static void free_buffers(pp_mirrors *mr)
{
    for (int i = 0; mr->buf && i < mr->n; i++) pp_ops_now()->msg_release(mr->buf[i]);
    free(mr->buf), free(mr->ticket);
    mr->buf = NULL, mr->ticket = NULL;
    mr->n = mr->M = 0;
}

void pp_mirrors_free(pp_mirrors *mr)
{
    free_buffers(mr);
    pp_ops_now()->host_release(mr->scratch);
    mr->scratch = NULL, mr->scratch_n = 0;
}

int pp_mirrors_needed(const pp_mirrors *mr, int M)
{
    return pp_ops_now()->on_device && mr->M != M;
}

pp_status pp_mirrors_make(pp_mirrors *mr, int M, int n, const char *need, size_t bytes)
{
    if (!pp_mirrors_needed(mr, M)) return PP_OK;
    free_buffers(mr);
    mr->buf = calloc((size_t)n, sizeof *mr->buf);
    mr->ticket = calloc((size_t)n, sizeof *mr->ticket);
    if (!mr->buf || !mr->ticket) return PP_ENOMEM;
    mr->n = n, mr->M = M;   /* (what free_buffers goes over; whole only on PP_OK) */
    for (int i = 0; i < n; i++)
        if (need[i] && !(mr->buf[i] = pp_ops_now()->msg_alloc(bytes))) {
            free_buffers(mr);   /* the next step makes them all again */
            return PP_ENOMEM;
        }
    return PP_OK;
}

float *pp_mirror(const pp_mirrors *mr, size_t i)
{
    return mr->buf ? mr->buf[i] : NULL;
}

void pp_mirror_out(pp_mirrors *mr, size_t i, const float *from, long first, long count)
{
    float *to = pp_mirror(mr, i);
    if (to) mr->ticket[i] = pp_ops_now()->copy_out(to + first, from + first, (size_t)count * sizeof(float));
}

int pp_mirror_ready(const pp_mirrors *mr, size_t i)
{
    return !pp_mirror(mr, i) || pp_ops_now()->copied(mr->ticket[i]);
}

float *pp_host_vector(pp_mirrors *mr, float *buf, long n)
{
    const pp_ops *op = pp_ops_now();
    if (!op->on_device) return buf;
    if (n > mr->scratch_n) {
        op->host_release(mr->scratch);
        mr->scratch_n = 0;
        if (!(mr->scratch = op->host_alloc((size_t)n * sizeof(float)))) return NULL;
        mr->scratch_n = n;
    }
    op->to_host(mr->scratch, buf, (size_t)n * sizeof(float));
    return mr->scratch;
}

void pp_host_vector_back(float *buf, const float *host, long n)
{
    if (host != buf) pp_ops_now()->from_host(buf, host, (size_t)n * sizeof(float));
}
