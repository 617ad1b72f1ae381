/* gpu.h -- the CUDA backend (gpu.cu), as tensor.c calls it: plain C, no MPI,
 * so that nvcc compiles gpu.cu without the rest of libpp.  Built only with
 * `make GPU=1` (PP_GPU defined).
 *
 * One device per process, chosen by pp_gpu_bind.  Work is queued on one
 * compute stream, in order, so the same inputs give the same bits; a second
 * stream copies messages out to host memory while the next compute runs.
 * The first CUDA error is kept (later calls do nothing) and pp_gpu_error
 * reports it.
 */
#ifndef PP_GPU_H
#define PP_GPU_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Devices this process can see: >= 0, or -1 with the reason in why. */
int pp_gpu_count(char *why, size_t n);
/* Makes `device` this process's, with its streams and cuBLAS handle; its
 * name ("NVIDIA H200") into name.  0, or -1 with the reason in why. */
int pp_gpu_bind(int device, char *name, size_t namelen, char *why, size_t n);
/* The first CUDA or cuBLAS error since the bind ("" if none). */
const char *pp_gpu_error(void);
/* Bytes free and in all on the device. */
int pp_gpu_mem_info(size_t *free_bytes, size_t *total_bytes);

/* Memory: device (zeroed), and page-locked host memory for messages. */
void *pp_gpu_alloc(size_t bytes);
void pp_gpu_release(void *p);
void *pp_gpu_host_alloc(size_t bytes);
void pp_gpu_host_release(void *p);
/* Copies in stream order; to_host waits until the bytes are there. */
void pp_gpu_copy(void *dst, const void *src, size_t bytes);
void pp_gpu_to_host(void *dst, const void *src, size_t bytes);
void pp_gpu_from_host(void *dst, const void *src, size_t bytes);
/* Device memory for a message buffer that MPI itself reads (plain
 * cudaMalloc, which another process can map), zeroed. */
void *pp_gpu_msg_alloc(size_t bytes);
void pp_gpu_msg_release(void *p);
/* A message's bytes to its buffer (host or device memory) on the copy
 * stream, after the compute queued so far: returns a ticket, and
 * pp_gpu_copied(ticket) says whether that copy has ended. */
int pp_gpu_copy_out(void *dst, const void *src, size_t bytes);
int pp_gpu_copied(int ticket);
/* Waits for everything queued. */
void pp_gpu_sync(void);

/* The model's operations, as pp_ops (model.h) lists them. */
void pp_gpu_gemm(int ta, int tb, int m, int n, int k, const float *A, const float *B, float beta, float *C);
void pp_gpu_add_bias(float *X, const float *b, int rows, int cols);
void pp_gpu_gelu(float *out, const float *h, long n);
void pp_gpu_gelu_backward(float *dh, const float *da, const float *h, long n);
void pp_gpu_add(float *out, const float *a, const float *b, long n);
void pp_gpu_sum_rows_acc(float *out, const float *X, int rows, int cols);
double pp_gpu_mse(float *dy, const float *y, const float *t, long n, float scale);
void pp_gpu_tanh(float *x, long n);
void pp_gpu_sgd(float *w, float *g, float lr, long n);

/* Device time.  pp_gpu_anchor ties the device's clock to the host's:
 * `host_now` is read the moment a marker the device passed is seen done.
 * span_begin marks the start of one action's work; pp_gpu_span, asked once
 * it has all been queued, marks its end and returns 1 while the device still
 * runs it, then 0 with its start and end in host seconds (-1: failed). */
void pp_gpu_anchor(double (*host_now)(void));
void pp_gpu_span_begin(void);
int pp_gpu_span(double *t0, double *t1);
/* Keeps the device busy for `seconds` (one thread spinning on the GPU's
 * clock): timed mode's stand-in for a compute. */
void pp_gpu_occupy(double seconds);

/* Seconds the device spent in matrix multiplies since the last call, and
 * their floating-point operations (waits for the work queued).  The first
 * call starts the timing: until then no multiply is timed. */
void pp_gpu_gemm_stats(double *flops, double *seconds);
/* Floating-point operations of every multiply since the start; asking
 * starts no timing. */
double pp_gpu_gemm_ops(void);

#ifdef __cplusplus
}
#endif

#endif /* PP_GPU_H */
