/* model.h -- what the model's files (tensor.c, model.c, train.c,
 * reference.c) share with each other and with the demo scaffolding, but not
 * with the demos: the backend's operations, one block of the MLP, and the
 * pieces of the task.  Nothing here is public (pp_model.h is).
 */
#ifndef PP_MODEL_INTERNAL_H
#define PP_MODEL_INTERNAL_H

#include "core.h"
#include "pp_model.h"

size_t pp_tensor_bytes(const pp_tensor *t);
const char *pp_mem_role_name(pp_mem_role r);   /* "parameters", ... */

/* The teacher's matrix A (io x io, pp_model_io; made once from the seed,
 * charged to mem as OTHER), and targets t = tanh(x A). */
pp_status pp_model_teacher(const pp_model_cfg *c, pp_mem *mem, pp_tensor **A);
void pp_model_targets(const pp_tensor *A, const pp_tensor *x, pp_tensor *t);

/* The hooks pp_trainer_step gives the executor. */
const pp_work *pp_trainer_work(pp_trainer *t);

/* Writes a rows x cols float32 array as a NumPy .npy file (version 1.0). */
pp_status pp_npy_write(const char *path, const float *data, int rows, int cols);

/* ---- the compute backend (tensor.c: CPU through CBLAS; gpu.cu: CUDA) ---- */

/* Every operation the model does on tensor memory.  All matrices are packed
 * row-major; n counts floats.  Each runs in a fixed order, so the same
 * inputs give the same bits.  On a GPU the operations are queued in order
 * and run while the host goes on; whatever hands bytes to the host (to_host,
 * mse, sync) waits for them. */
typedef struct {
    const char *name;
    int on_device;                     /* tensor memory is not the host's: MPI and the
                                          host's sums see it through host copies */
    void *(*alloc)(size_t bytes);      /* zeroed, or NULL */
    void (*release)(void *p);
    void (*copy)(void *dst, const void *src, size_t bytes);        /* backend to backend */
    void (*to_host)(void *dst, const void *src, size_t bytes);     /* backend to host */
    void (*from_host)(void *dst, const void *src, size_t bytes);   /* host to backend */
    /* C (m x n) = op(A) op(B) + beta C; op(A) is m x k, op(B) is k x n. */
    void (*gemm)(int trans_a, int trans_b, int m, int n, int k, const float *A, const float *B, float beta,
                 float *C);
    void (*add_bias)(float *X, const float *b, int rows, int cols);          /* X[r] += b */
    void (*gelu)(float *out, const float *h, long n);
    void (*gelu_backward)(float *dh, const float *da, const float *h, long n); /* dh = da gelu'(h) */
    void (*add)(float *out, const float *a, const float *b, long n);
    void (*sum_rows_acc)(float *out, const float *X, int rows, int cols);    /* out += column sums */
    /* dy = 2 scale (y - t); returns scale * sum (y - t)^2. */
    double (*mse)(float *dy, const float *y, const float *t, long n, float scale);
    void (*tanh_)(float *x, long n);
    void (*sgd)(float *w, float *g, float lr, long n);   /* w -= lr g, then g = 0 */
    /* Host memory for the collectives' sums (page-locked on a GPU, so
     * copies to and from it run at full speed). */
    void *(*host_alloc)(size_t bytes);
    void (*host_release)(void *p);
    /* On a GPU, the buffer a message travels in to and from MPI: page-locked
     * host memory, or device memory where the MPI library reads it.  A
     * message is copied into it after the compute that made it, while the
     * next one runs: copy_out gives a ticket, copied(ticket) says whether
     * that copy has ended. */
    void *(*msg_alloc)(size_t bytes);
    void (*msg_release)(void *p);
    int (*copy_out)(void *dst, const void *src, size_t bytes);
    int (*copied)(int ticket);
    void (*sync)(void);                /* waits for everything queued */
    const char *(*error)(void);        /* the backend's first failure, "" if none */
} pp_ops;

/* The backend in use on this process (the CPU until pp_backend_use). */
const pp_ops *pp_ops_now(void);
/* PP_OK, or PP_EDEVICE once the backend has failed (its reason: ops->error). */
pp_status pp_backend_status(void);

/* ---- model.c: one block of the MLP ---- */

typedef struct {
    pp_tensor *W1;   /* (width, hidden) */
    pp_tensor *b1;   /* (1, hidden) */
    pp_tensor *W2t;  /* W2 (hidden, width) stored transposed: (width, hidden); see model.c */
    pp_tensor *b2;   /* (1, width) */
} pp_block;

/* Block l's weights, made from the seed and charged as parameters, and its
 * gradients, zeroed and charged as gradients.  Slice t of T (tensor
 * parallel): hidden columns t f/T .. (t+1) f/T - 1 of W1 and b1, the same
 * rows of W2 (columns of W2t), and all of b2; T = 1, t = 0 is the whole
 * block.  PP_EARG if T does not divide the hidden width. */
pp_status pp_block_pair_new(const pp_model_cfg *c, int l, int T, int t, pp_mem *mem, pp_block *w, pp_block *g);
void pp_block_free(pp_block *b);

/* Copies part k (0 W1, 1 b1, 2 W2, 3 b2) of a block to host memory in the
 * model's own layout (W2 as hidden x width) and gives its shape.
 * pp_block_to_host copies all four, one after another in that order. */
pp_status pp_block_part_to_host(const pp_block *w, int k, float *host, int *rows, int *cols);

/* Sums a partial result over a tensor-parallel group, in place. */
typedef struct {
    pp_status (*sum)(void *ctx, float *buf, long n);
    void *ctx;
} pp_reducer;

/* r NULL: the whole block on this rank.  Otherwise one slice, and r adds
 * the group's partial sums (once in the forward, once in the input half of
 * the backward). */
pp_status pp_block_forward(const pp_block *w, const pp_tensor *x, pp_tensor *h, pp_tensor *a, pp_tensor *y,
                           const pp_reducer *r);
pp_status pp_block_backward_input(const pp_block *w, const pp_tensor *h, const pp_tensor *dy, pp_tensor *dh,
                                  pp_tensor *dx, const pp_reducer *r);
void pp_block_backward_weight(pp_block *g, const pp_tensor *x, const pp_tensor *a, const pp_tensor *dy,
                              const pp_tensor *dh);
void pp_block_sgd(pp_block *w, pp_block *g, float lr);
pp_status pp_block_to_host(const pp_block *w, float *host);

/* ---- model.c: the input and output layers (cfg.features > 0) ---- */

/* The input layer's Win (features x width, `out` 0) or the output layer's
 * Wout (width x features, `out` 1), from the seed, charged as parameters,
 * and its gradient, zeroed.  PP_EARG without features. */
pp_status pp_end_pair_new(const pp_model_cfg *c, int out, pp_mem *mem, pp_tensor **w, pp_tensor **g);
/* y = x W (rows of x by W's columns): either layer's forward. */
void pp_end_forward(const pp_tensor *W, const pp_tensor *x, pp_tensor *y);
/* dx = dy W^T: the gradient at the layer's input (the output layer's I). */
void pp_end_backward_input(const pp_tensor *W, const pp_tensor *dy, pp_tensor *dx);
/* g += x^T dy: the micro-batch's weight gradient (either layer's W). */
void pp_end_backward_weight(pp_tensor *g, const pp_tensor *x, const pp_tensor *dy);

#endif /* PP_MODEL_INTERNAL_H */
