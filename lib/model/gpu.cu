/* gpu.cu -- the CUDA backend: tensors in device memory, matrix multiplies
 * through cuBLAS (float32, the CPU path's transposes), the element-wise
 * operations as small kernels.  tensor.c puts these calls in its pp_ops
 * table when a run asks for --device gpu.
 *
 * Same inputs, same bits: every kernel gives each output element to one
 * thread, which adds in a fixed order (the column sums go down the rows in
 * row order; the loss adds over a fixed grid, then block by block on the
 * host).  cuBLAS is asked for full float32 (no TF32) and no atomics, so a
 * multiply of a given shape on a given device always sums the same way.
 * It does not sum as OpenBLAS does, and tanhf is not glibc's: a GPU run
 * agrees with a CPU run to a tolerance (tests/gpu.sh states it), and with
 * another GPU run of the same micro-batch size bit for bit.
 *
 * Streams: `work` runs every compute in order; `out` copies a message to
 * host memory after the compute that made it, while the next compute runs.
 * Left out on purpose: half precision, fused kernels, CUDA graphs; several
 * devices per process.
 */
#include "gpu.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cudaStream_t work, out;
static cublasHandle_t blas;
static char first_error[256];

/* Keeps the first failure; 1 if `e` is one. */
static int failed(cudaError_t e, const char *what)
{
    if (e == cudaSuccess) return 0;
    if (!first_error[0]) snprintf(first_error, sizeof first_error, "%s: %s", what, cudaGetErrorString(e));
    return 1;
}

static int blas_failed(cublasStatus_t s, const char *what)
{
    if (s == CUBLAS_STATUS_SUCCESS) return 0;
    if (!first_error[0]) snprintf(first_error, sizeof first_error, "%s: cuBLAS status %d", what, (int)s);
    return 1;
}

const char *pp_gpu_error(void)
{
    return first_error;
}

int pp_gpu_count(char *why, size_t n)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        snprintf(why, n, "%s", cudaGetErrorString(e));
        return -1;
    }
    return count;
}

int pp_gpu_bind(int device, char *name, size_t namelen, char *why, size_t n)
{
    cudaDeviceProp p;
    cudaError_t e = cudaSetDevice(device);
    if (e == cudaSuccess) e = cudaGetDeviceProperties(&p, device);
    if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&work, cudaStreamNonBlocking);
    if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&out, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        snprintf(why, n, "GPU %d: %s", device, cudaGetErrorString(e));
        return -1;
    }
    cublasStatus_t s = cublasCreate(&blas);
    if (s == CUBLAS_STATUS_SUCCESS) s = cublasSetStream(blas, work);
    if (s == CUBLAS_STATUS_SUCCESS) s = cublasSetMathMode(blas, CUBLAS_PEDANTIC_MATH);   /* float32 only, no TF32 */
    if (s == CUBLAS_STATUS_SUCCESS) s = cublasSetAtomicsMode(blas, CUBLAS_ATOMICS_NOT_ALLOWED);
    if (s != CUBLAS_STATUS_SUCCESS) {
        snprintf(why, n, "GPU %d: cuBLAS could not start (status %d)", device, (int)s);
        return -1;
    }
    /* The pool keeps what is freed (the default gives it back to the
     * driver at every synchronization). */
    cudaMemPool_t pool;
    unsigned long long keep = ~0ULL;
    if (cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess)
        cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
    snprintf(name, namelen, "%s", p.name);
    return 0;
}

int pp_gpu_mem_info(size_t *free_bytes, size_t *total_bytes)
{
    return failed(cudaMemGetInfo(free_bytes, total_bytes), "cudaMemGetInfo") ? -1 : 0;
}

/* One thread reads the GPU's nanosecond clock until `ns` have passed. */
__global__ void occupy_k(unsigned long long ns)
{
    unsigned long long start, now;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
    do {
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
    } while (now - start < ns);
}

/* Keeps stream s busy for `seconds`. */
static void occupy_on(cudaStream_t s, double seconds)
{
    occupy_k<<<1, 1, 0, s>>>((unsigned long long)(seconds * 1e9));
    failed(cudaGetLastError(), "occupy");
}

/* ---- memory and copies ---------------------------------------------------- */

/* Tensors come from the device's stream-ordered pool (cudaMallocAsync):
 * a step makes and frees the same sizes over and over, and the pool hands
 * them back without asking the driver or waiting for the device.  A freed
 * block is reused only by work queued after the free, on the same stream. */
void *pp_gpu_alloc(size_t bytes)
{
    void *p = NULL;
    if (first_error[0] || failed(cudaMallocAsync(&p, bytes ? bytes : 16, work), "cudaMallocAsync")) return NULL;
    if (failed(cudaMemsetAsync(p, 0, bytes, work), "cudaMemsetAsync")) {
        cudaFreeAsync(p, work);
        return NULL;
    }
    return p;
}

void pp_gpu_release(void *p)
{
    if (p) failed(cudaFreeAsync(p, work), "cudaFreeAsync");
}

void *pp_gpu_host_alloc(size_t bytes)
{
    void *p = NULL;
    if (failed(cudaMallocHost(&p, bytes ? bytes : 16), "cudaMallocHost")) return NULL;
    memset(p, 0, bytes);
    return p;
}

void pp_gpu_host_release(void *p)
{
    if (p) failed(cudaFreeHost(p), "cudaFreeHost");
}

void pp_gpu_copy(void *dst, const void *src, size_t bytes)
{
    if (!first_error[0]) failed(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, work), "copy on the GPU");
}

/* A copy in stream order, waited for: the host reads dst, or reuses src,
 * as soon as it returns.  (Default: host or device memory, as the
 * pointers are.) */
static void copy_now(void *dst, const void *src, size_t bytes, const char *what)
{
    if (first_error[0]) return;
    if (!failed(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, work), what))
        failed(cudaStreamSynchronize(work), what);
}

void pp_gpu_to_host(void *dst, const void *src, size_t bytes)
{
    copy_now(dst, src, bytes, "copy to the host");
}

void pp_gpu_from_host(void *dst, const void *src, size_t bytes)
{
    copy_now(dst, src, bytes, "copy to the GPU");
}

/* Each copy out gets a ticket, and its own end marker in a ring of them:
 * a send asks about its own copy, not the latest (which may wait for a
 * compute queued after it).  Copies on `out` run in order, so a marker
 * reused by a later copy is only ever late, never early. */
enum { RING = 256 };
static cudaEvent_t out_after, copied[RING];
static unsigned tickets;

/* A test's aid (tests/test_gpu.c): PP_GPU_COPY_DELAY_MS=x makes the copy
 * stream wait x ms before each copy out, so that a send posted before its
 * copy ended, or a compute that did not wait for its message, would use
 * stale bytes every time rather than once in a while. */
static double copy_delay_s = -1;

void *pp_gpu_msg_alloc(size_t bytes)
{
    void *p = NULL;
    /* Plain cudaMalloc, not the pool: an MPI library that reads device
     * memory may map it into another process, which pool memory does not
     * allow.  Zeroed, and done, before MPI sees it. */
    if (failed(cudaMalloc(&p, bytes ? bytes : 16), "cudaMalloc")) return NULL;
    if (failed(cudaMemsetAsync(p, 0, bytes, work), "cudaMemsetAsync") ||
        failed(cudaStreamSynchronize(work), "cudaStreamSynchronize")) {
        cudaFree(p);
        return NULL;
    }
    return p;
}

void pp_gpu_msg_release(void *p)
{
    if (p) failed(cudaFree(p), "cudaFree");
}

int pp_gpu_copy_out(void *dst, const void *src, size_t bytes)
{
    if (first_error[0]) return -1;
    if (!out_after) {
        if (failed(cudaEventCreateWithFlags(&out_after, cudaEventDisableTiming), "cudaEventCreate")) return -1;
        for (int i = 0; i < RING; i++)
            if (failed(cudaEventCreateWithFlags(&copied[i], cudaEventDisableTiming), "cudaEventCreate")) return -1;
    }
    int t = (int)(tickets++ % RING);
    if (copy_delay_s < 0) {
        const char *d = getenv("PP_GPU_COPY_DELAY_MS");
        copy_delay_s = d ? atof(d) * 1e-3 : 0;
    }
    /* The copy waits for the compute queued so far (which made the bytes),
     * not for what is queued after it.  Default: host or device memory,
     * as dst is. */
    failed(cudaEventRecord(out_after, work), "cudaEventRecord");
    failed(cudaStreamWaitEvent(out, out_after, 0), "cudaStreamWaitEvent");
    if (copy_delay_s > 0) occupy_on(out, copy_delay_s);
    failed(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, out), "copy of a message out");
    failed(cudaEventRecord(copied[t], out), "cudaEventRecord");
    return t;
}

int pp_gpu_copied(int ticket)
{
    if (first_error[0] || ticket < 0) return 1;
    cudaError_t e = cudaEventQuery(copied[ticket]);
    if (e == cudaErrorNotReady) return 0;
    return failed(e, "copy of a message out"), 1;
}

void pp_gpu_sync(void)
{
    /* Even after a failure: the caller frees what queued work may still use. */
    failed(cudaStreamSynchronize(work), "the GPU's work");
    failed(cudaStreamSynchronize(out), "the GPU's copies");
}

/* ---- matrix multiply -------------------------------------------------------- */

/* Once pp_gpu_gemm_stats has been called (make bench), every multiply's
 * start and end, folded into the totals when asked (or when the list is
 * full), so that timing one never waits for it. */
enum { MAX_TIMED = 1024 };
static cudaEvent_t gemm_ev[MAX_TIMED][2];
static int ntimed, timing;
static double gemm_flops_sum, gemm_seconds_sum;
static double gemm_ops_total;   /* every multiply's operations since the start, timed or not */

static void fold_gemm_times(void)
{
    for (int i = 0; i < ntimed; i++) {
        float ms = 0;
        if (!failed(cudaEventSynchronize(gemm_ev[i][1]), "cudaEventSynchronize") &&
            !failed(cudaEventElapsedTime(&ms, gemm_ev[i][0], gemm_ev[i][1]), "cudaEventElapsedTime"))
            gemm_seconds_sum += ms / 1e3;
    }
    ntimed = 0;
}

static void row_major_sgemm(int ta, int tb, int m, int n, int k, const float *A, const float *B, float beta, float *C)
{
    /* cuBLAS is column-major: a row-major matrix is its transpose there.
     * So C = op(A) op(B) (row-major) is C^T = op(B)^T op(A)^T (column-major):
     * the operands swap, each keeps its own transpose flag and leading
     * dimension, exactly as the CPU path passes them to CBLAS. */
    const float one = 1.0f;
    blas_failed(cublasSgemm(blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &one, B,
                            tb ? k : n, A, ta ? m : k, &beta, C, n),
                "cublasSgemm");
}

void pp_gpu_gemm(int ta, int tb, int m, int n, int k, const float *A, const float *B, float beta, float *C)
{
    if (first_error[0]) return;
    gemm_flops_sum += 2.0 * m * n * k;
    gemm_ops_total += 2.0 * m * n * k;
    if (!timing) {
        row_major_sgemm(ta, tb, m, n, k, A, B, beta, C);
        return;
    }
    if (ntimed == MAX_TIMED) fold_gemm_times();
    cudaEvent_t *ev = gemm_ev[ntimed];
    if (!ev[0] && (failed(cudaEventCreate(&ev[0]), "cudaEventCreate") || failed(cudaEventCreate(&ev[1]), "cudaEventCreate")))
        return;
    failed(cudaEventRecord(ev[0], work), "cudaEventRecord");
    row_major_sgemm(ta, tb, m, n, k, A, B, beta, C);
    failed(cudaEventRecord(ev[1], work), "cudaEventRecord");
    ntimed++;
}

double pp_gpu_gemm_ops(void)
{
    return gemm_ops_total;
}

void pp_gpu_gemm_stats(double *flops, double *seconds)
{
    timing = 1;
    fold_gemm_times();
    *flops = gemm_flops_sum, *seconds = gemm_seconds_sum;
    gemm_flops_sum = gemm_seconds_sum = 0;
}

/* ---- element-wise kernels ------------------------------------------------ */

/* One thread per element, as many blocks as it takes. */
enum { THREADS = 256 };
static unsigned blocks_for(long n)
{
    return (unsigned)((n + THREADS - 1) / THREADS);
}

static void launched(const char *what)
{
    failed(cudaGetLastError(), what);
}

__global__ void add_bias_k(float *X, const float *b, long n, int cols)
{
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i < n) X[i] += b[i % cols];
}

void pp_gpu_add_bias(float *X, const float *b, int rows, int cols)
{
    long n = (long)rows * cols;
    if (first_error[0] || n == 0) return;
    add_bias_k<<<blocks_for(n), THREADS, 0, work>>>(X, b, n, cols);
    launched("add_bias");
}

/* GELU, tanh form, with the CPU path's constants. */
#define GELU_K 0.7978845608f
#define GELU_C 0.044715f

__global__ void gelu_k(float *out, const float *h, long n)
{
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i >= n) return;
    float x = h[i];
    out[i] = 0.5f * x * (1.0f + tanhf(GELU_K * (x + GELU_C * x * x * x)));
}

void pp_gpu_gelu(float *out, const float *h, long n)
{
    if (first_error[0] || n == 0) return;
    gelu_k<<<blocks_for(n), THREADS, 0, work>>>(out, h, n);
    launched("gelu");
}

__global__ void gelu_backward_k(float *dh, const float *da, const float *h, long n)
{
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i >= n) return;
    float x = h[i], u = GELU_K * (x + GELU_C * x * x * x), t = tanhf(u);
    float d = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_K * (1.0f + 3.0f * GELU_C * x * x);
    dh[i] = da[i] * d;
}

void pp_gpu_gelu_backward(float *dh, const float *da, const float *h, long n)
{
    if (first_error[0] || n == 0) return;
    gelu_backward_k<<<blocks_for(n), THREADS, 0, work>>>(dh, da, h, n);
    launched("gelu_backward");
}

__global__ void add_k(float *out, const float *a, const float *b, long n)
{
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i < n) out[i] = a[i] + b[i];
}

void pp_gpu_add(float *out, const float *a, const float *b, long n)
{
    if (first_error[0] || n == 0) return;
    add_k<<<blocks_for(n), THREADS, 0, work>>>(out, a, b, n);
    launched("add");
}

/* One thread per column, down the rows in order (as the CPU path adds). */
__global__ void sum_rows_acc_k(float *out, const float *X, int rows, int cols)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    float s = 0;
    for (int r = 0; r < rows; r++) s += X[(long)r * cols + c];
    out[c] += s;
}

void pp_gpu_sum_rows_acc(float *out, const float *X, int rows, int cols)
{
    if (first_error[0] || cols == 0) return;
    sum_rows_acc_k<<<blocks_for(cols), THREADS, 0, work>>>(out, X, rows, cols);
    launched("sum_rows_acc");
}

/* The loss: each of a fixed number of threads adds its own elements (a
 * stride apart, in order), each block adds its threads' sums as a tree of a
 * fixed shape, and the host adds the blocks' sums in block order.  The
 * grid's size never depends on the device, so neither does the sum's order. */
enum { MSE_BLOCKS = 64 };

__global__ void mse_k(float *dy, const float *y, const float *t, long n, float scale, double *partial)
{
    __shared__ double s[THREADS];
    double sum = 0;
    for (long i = blockIdx.x * (long)THREADS + threadIdx.x; i < n; i += (long)MSE_BLOCKS * THREADS) {
        float e = y[i] - t[i];
        dy[i] = 2.0f * scale * e;
        sum += (double)e * e;
    }
    s[threadIdx.x] = sum;
    __syncthreads();
    for (int half = THREADS / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) s[threadIdx.x] += s[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

double pp_gpu_mse(float *dy, const float *y, const float *t, long n, float scale)
{
    static double *partial;   /* [MSE_BLOCKS] on the device, made once */
    double host[MSE_BLOCKS], sum = 0;
    if (first_error[0] || (!partial && failed(cudaMalloc(&partial, sizeof host), "cudaMalloc"))) return 0;
    mse_k<<<MSE_BLOCKS, THREADS, 0, work>>>(dy, y, t, n, scale, partial);
    launched("mse");
    pp_gpu_to_host(host, partial, sizeof host);
    for (int b = 0; b < MSE_BLOCKS; b++) sum += host[b];
    return sum * scale;
}

__global__ void tanh_k(float *x, long n)
{
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i < n) x[i] = tanhf(x[i]);
}

void pp_gpu_tanh(float *x, long n)
{
    if (first_error[0] || n == 0) return;
    tanh_k<<<blocks_for(n), THREADS, 0, work>>>(x, n);
    launched("tanh");
}

__global__ void sgd_k(float *w, float *g, float lr, long n)
{
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i >= n) return;
    w[i] -= lr * g[i];
    g[i] = 0;
}

void pp_gpu_sgd(float *w, float *g, float lr, long n)
{
    if (first_error[0] || n == 0) return;
    sgd_k<<<blocks_for(n), THREADS, 0, work>>>(w, g, lr, n);
    launched("sgd");
}

/* ---- device time ------------------------------------------------------------ */

static cudaEvent_t anchor_ev, span_ev[2];
static double anchor_host;   /* host seconds at which anchor_ev was seen done */
static int span_state;       /* 0 none, 1 begun, 2 ended (its end marker queued) */

void pp_gpu_anchor(double (*host_now)(void))
{
    if (first_error[0]) return;
    if (!anchor_ev && (failed(cudaEventCreate(&anchor_ev), "cudaEventCreate") ||
                       failed(cudaEventCreate(&span_ev[0]), "cudaEventCreate") ||
                       failed(cudaEventCreate(&span_ev[1]), "cudaEventCreate")))
        return;
    /* The device passes the marker once the work before it is done; the host
     * spins on it and reads its own clock the moment it is seen (a few
     * microseconds late at most, the same for every span of the step). */
    pp_gpu_sync();
    failed(cudaEventRecord(anchor_ev, work), "cudaEventRecord");
    cudaError_t e;
    while ((e = cudaEventQuery(anchor_ev)) == cudaErrorNotReady) {
    }
    anchor_host = host_now();
    failed(e, "the GPU's clock");
}

void pp_gpu_span_begin(void)
{
    if (!first_error[0] && anchor_ev && !failed(cudaEventRecord(span_ev[0], work), "cudaEventRecord")) span_state = 1;
}

int pp_gpu_span(double *t0, double *t1)
{
    float a = 0, b = 0;
    if (first_error[0] || span_state == 0) return -1;
    if (span_state == 1) {   /* the first ask: the end marker goes in after the compute */
        if (failed(cudaEventRecord(span_ev[1], work), "cudaEventRecord")) return -1;
        span_state = 2;
    }
    cudaError_t e = cudaEventQuery(span_ev[1]);
    if (e == cudaErrorNotReady) return 1;
    span_state = 0;
    if (failed(e, "the GPU's work") || failed(cudaEventElapsedTime(&a, anchor_ev, span_ev[0]), "cudaEventElapsedTime") ||
        failed(cudaEventElapsedTime(&b, anchor_ev, span_ev[1]), "cudaEventElapsedTime"))
        return -1;
    *t0 = anchor_host + a / 1e3;
    *t1 = anchor_host + b / 1e3;
    return 0;
}

void pp_gpu_occupy(double seconds)
{
    if (first_error[0] || seconds <= 0) return;
    occupy_on(work, seconds);
}
