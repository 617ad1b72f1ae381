/* tensor.c -- float32 matrices, the memory they use counted by role, and the
 * CPU backend: the handful of operations the model needs, with matrix
 * multiply through CBLAS (OpenBLAS, one thread per rank).  Then the choice
 * of backend: the CPU, or a GPU (gpu.cu, in a `make GPU=1` build), one per
 * rank, chosen by the rank's place on its machine.
 *
 * The model and the executor see only the pp_ops table (model.h), so the
 * GPU backend replaces the CPU's operations without touching them.
 * Every operation here runs in a fixed order: the same inputs give the same
 * bits, which is what lets a pipelined run equal a single-process one.
 * Left out on purpose: strides and views (every tensor is packed), and any
 * operation the MLP does not use.
 */
#include "model.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- memory accounting --------------------------------------------------- */

static void charge(pp_mem *m, pp_mem_role r, long bytes)
{
    if (!m) return;
    m->now[r] += bytes;
    m->now_total += bytes;
    if (m->now[r] > m->peak[r]) m->peak[r] = m->now[r];
    if (m->now_total > m->peak_total) m->peak_total = m->now_total;
}

void pp_mem_reset_peak(pp_mem *m)
{
    for (int r = 0; r < PP_MEM_NROLES; r++) m->peak[r] = m->now[r];
    m->peak_total = m->now_total;
}

const char *pp_mem_role_name(pp_mem_role r)
{
    static const char *names[PP_MEM_NROLES] = {"parameters", "gradients", "stored activations",
                                               "message buffers", "batch and scratch"};
    return r >= 0 && r < PP_MEM_NROLES ? names[r] : "?";
}

pp_status pp_tensor_new(pp_mem *mem, pp_mem_role role, int rows, int cols, pp_tensor **out)
{
    *out = NULL;
    if (rows < 0 || cols < 0) return PP_EARG;
    pp_tensor *t = calloc(1, sizeof *t);
    if (!t) return PP_ENOMEM;
    t->rows = rows;
    t->cols = cols;
    t->role = role;
    t->mem = mem;
    t->data = pp_ops_now()->alloc(pp_tensor_bytes(t));
    if (!t->data) {
        free(t);
        return pp_backend_status() == PP_OK ? PP_ENOMEM : PP_EDEVICE;   /* a GPU says why */
    }
    charge(mem, role, (long)pp_tensor_bytes(t));
    *out = t;
    return PP_OK;
}

void pp_tensor_free(pp_tensor *t)
{
    if (!t) return;
    charge(t->mem, t->role, -(long)pp_tensor_bytes(t));
    pp_ops_now()->release(t->data);
    free(t);
}

size_t pp_tensor_bytes(const pp_tensor *t)
{
    return (size_t)t->rows * (size_t)t->cols * sizeof(float);
}

void pp_tensor_to_host(const pp_tensor *t, float *host)
{
    pp_ops_now()->to_host(host, t->data, pp_tensor_bytes(t));
}

void pp_tensor_from_host(pp_tensor *t, const float *host)
{
    pp_ops_now()->from_host(t->data, host, pp_tensor_bytes(t));
}

double pp_tensor_sum(const pp_tensor *t)
{
    long n = (long)t->rows * t->cols;
    float *host = malloc((size_t)(n ? n : 1) * sizeof *host);
    double s = 0;
    if (!host) return NAN;
    pp_ops_now()->to_host(host, t->data, (size_t)n * sizeof *host);
    for (long i = 0; i < n; i++) s += host[i];
    free(host);
    return s;
}

/* ---- the CPU backend ------------------------------------------------------ */

/* Every tensor starts on a 64-byte cache line (malloc promises only 16), so
 * with a width that is a multiple of 16 floats each row does too: a
 * multiply that reads or writes a row then touches no line it does not use
 * (make bench shows the multiplies' throughput against bare calls). */
enum { CACHE_LINE = 64 };

static void *cpu_alloc(size_t bytes)
{
    size_t n = (bytes + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
    void *p = aligned_alloc(CACHE_LINE, n ? n : CACHE_LINE);
    if (p) memset(p, 0, n);
    return p;
}

static void cpu_release(void *p)
{
    free(p);
}

static void cpu_copy(void *dst, const void *src, size_t bytes)
{
    memcpy(dst, src, bytes);
}

/* Matrix-multiply work done on this rank, for the benchmarks; and every
 * multiply's operations since the start (pp_backend_gemm_ops). */
static double gemm_flops, gemm_seconds, gemm_ops;

/* C (m x n) = op(A) op(B) + beta C; op(A) is m x k, op(B) is k x n; all packed row-major. */
static void cpu_gemm(int ta, int tb, int m, int n, int k, const float *A, const float *B, float beta, float *C)
{
    double t0 = pp_now();
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, A,
                ta ? m : k, B, tb ? k : n, beta, C, n);
    gemm_seconds += pp_now() - t0;
    gemm_flops += 2.0 * m * n * k;
    gemm_ops += 2.0 * m * n * k;
}

static void cpu_add_bias(float *X, const float *b, int rows, int cols)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) X[(long)r * cols + c] += b[c];
}

/* GELU, tanh form: 0.5 h (1 + tanh(sqrt(2/pi) (h + 0.044715 h^3))). */
static const float GELU_K = 0.7978845608f, GELU_C = 0.044715f;

static void cpu_gelu(float *out, const float *h, long n)
{
    for (long i = 0; i < n; i++) {
        float x = h[i];
        out[i] = 0.5f * x * (1.0f + tanhf(GELU_K * (x + GELU_C * x * x * x)));
    }
}

/* dh = da * gelu'(h), in place over da allowed. */
static void cpu_gelu_backward(float *dh, const float *da, const float *h, long n)
{
    for (long i = 0; i < n; i++) {
        float x = h[i], u = GELU_K * (x + GELU_C * x * x * x), t = tanhf(u);
        float d = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_K * (1.0f + 3.0f * GELU_C * x * x);
        dh[i] = da[i] * d;
    }
}

static void cpu_add(float *out, const float *a, const float *b, long n)
{
    for (long i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/* out[c] += sum over rows r, in row order, of X[r][c]. */
static void cpu_sum_rows_acc(float *out, const float *X, int rows, int cols)
{
    for (int c = 0; c < cols; c++) {
        float s = 0;
        for (int r = 0; r < rows; r++) s += X[(long)r * cols + c];
        out[c] += s;
    }
}

/* dy = 2 scale (y - t); returns scale * sum (y - t)^2 (in double). */
static double cpu_mse(float *dy, const float *y, const float *t, long n, float scale)
{
    double sum = 0;
    for (long i = 0; i < n; i++) {
        float e = y[i] - t[i];
        dy[i] = 2.0f * scale * e;
        sum += (double)e * e;
    }
    return sum * scale;
}

static void cpu_tanh(float *x, long n)
{
    for (long i = 0; i < n; i++) x[i] = tanhf(x[i]);
}

static void cpu_sgd(float *w, float *g, float lr, long n)
{
    for (long i = 0; i < n; i++) {
        w[i] -= lr * g[i];
        g[i] = 0;
    }
}

static int cpu_copy_out(void *dst, const void *src, size_t bytes)
{
    memcpy(dst, src, bytes);
    return 0;
}

static int cpu_copied(int ticket)
{
    (void)ticket;
    return 1;
}

static void cpu_sync(void)
{
}

static const char *cpu_error(void)
{
    return "";
}

static const pp_ops cpu_ops = {
    "cpu (OpenBLAS, 1 thread per rank)", 0,
    cpu_alloc, cpu_release, cpu_copy, cpu_copy, cpu_copy, cpu_gemm, cpu_add_bias, cpu_gelu,
    cpu_gelu_backward, cpu_add, cpu_sum_rows_acc, cpu_mse, cpu_tanh, cpu_sgd,
    cpu_alloc, cpu_release, cpu_alloc, cpu_release, cpu_copy_out, cpu_copied, cpu_sync, cpu_error,
};

/* OpenBLAS starts one thread per core by default; ranks share the cores, so
 * each uses one (its own declaration: the call is OpenBLAS's, not CBLAS's). */
void openblas_set_num_threads(int n);

/* The backend this process computes on, and what it says of itself. */
static const pp_ops *in_use;
static char device_name[160] = "cpu";
static int gpu_index = -1;   /* the GPU this rank took, or -1 */

const pp_ops *pp_ops_now(void)
{
    if (!in_use) {
        openblas_set_num_threads(1);
#ifdef __GLIBC__
        /* A step allocates and frees the same activation sizes over and
         * over.  Above 128 KiB glibc maps fresh pages from the kernel for each
         * one and returns them on free, so the first multiply that writes into
         * a new tensor pays a page fault per 4 KiB.  Keeping such blocks in
         * the heap lets them be reused instead. */
        mallopt(M_MMAP_THRESHOLD, 256 << 20);
        mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
        in_use = &cpu_ops;
    }
    return in_use;
}

const char *pp_backend_name(void)
{
    return pp_ops_now()->name;
}

const char *pp_backend_device(void)
{
    return device_name;
}

int pp_backend_gpu(void)
{
    return gpu_index;
}

pp_status pp_backend_status(void)
{
    return pp_ops_now()->error()[0] ? PP_EDEVICE : PP_OK;
}

const char *pp_backend_error(void)
{
    return pp_ops_now()->error();
}

/* ---- the GPU backend (gpu.cu), where the build has it --------------------- */

#ifdef PP_GPU
#include "gpu.h"

/* Does this MPI library read device memory?  MPICH says so where it was
 * built to (MPIX_Query_cuda_support, from MPICH 4); then messages travel in
 * device buffers, else in page-locked host ones. */
static int mpi_reads_device;

static void *gpu_msg_alloc(size_t bytes)
{
    return mpi_reads_device ? pp_gpu_msg_alloc(bytes) : pp_gpu_host_alloc(bytes);
}

static void gpu_msg_release(void *p)
{
    if (mpi_reads_device) pp_gpu_msg_release(p);
    else pp_gpu_host_release(p);
}

static const pp_ops gpu_ops = {
    "gpu (cuBLAS, float32)", 1,
    pp_gpu_alloc, pp_gpu_release, pp_gpu_copy, pp_gpu_to_host, pp_gpu_from_host, pp_gpu_gemm, pp_gpu_add_bias,
    pp_gpu_gelu, pp_gpu_gelu_backward, pp_gpu_add, pp_gpu_sum_rows_acc, pp_gpu_mse, pp_gpu_tanh, pp_gpu_sgd,
    pp_gpu_host_alloc, pp_gpu_host_release, gpu_msg_alloc, gpu_msg_release, pp_gpu_copy_out, pp_gpu_copied,
    pp_gpu_sync, pp_gpu_error,
};

/* The executor's view of the GPU: each compute bracketed by two markers on
 * the device, read back on the host's clock. */
static void dev_step(void *ctx)
{
    (void)ctx;
    pp_gpu_anchor(pp_now);
}

static void dev_begin(void *ctx)
{
    (void)ctx;
    pp_gpu_span_begin();
}

static void dev_occupy(void *ctx, double seconds)
{
    (void)ctx;
    pp_gpu_occupy(seconds);
}

static int dev_end(void *ctx, double *t0, double *t1)
{
    (void)ctx;
    return pp_gpu_span(t0, t1);
}

static const pp_device gpu_clock = {NULL, dev_step, dev_begin, dev_occupy, dev_end};

/* The rank's place among the ranks of its machine (0, 1, ...): ranks that
 * share a machine share its GPUs, one each in turn. */
static int local_rank(MPI_Comm comm)
{
    MPI_Comm node;
    int r = 0;
    if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) != MPI_SUCCESS) return 0;
    MPI_Comm_rank(node, &r);
    MPI_Comm_free(&node);
    return r;
}

static pp_status use_gpu(MPI_Comm comm, char *err, size_t n)
{
    char why[200] = "", name[128] = "";
    int local = local_rank(comm), count = pp_gpu_count(why, sizeof why);
    if (count <= 0) {
        snprintf(err, n, "--device gpu: no usable GPU (%s)", count == 0 ? "CUDA sees no device" : why);
        return PP_EARG;
    }
    int dev = local % count;
    if (pp_gpu_bind(dev, name, sizeof name, why, sizeof why) != 0) {
        snprintf(err, n, "--device gpu: %s", why);
        return PP_EARG;
    }
    snprintf(device_name, sizeof device_name, "GPU %d (%s)", dev, name);
    gpu_index = dev;
#if defined(MPICH_NUMVERSION) && MPICH_NUMVERSION >= 40000000
    mpi_reads_device = MPIX_Query_cuda_support();
#endif
    in_use = &gpu_ops;
    return PP_OK;
}

#else /* no CUDA in this build */

static pp_status use_gpu(MPI_Comm comm, char *err, size_t n)
{
    (void)comm;
    /* (short: with the demo's name in front it fits 80 columns) */
    snprintf(err, n, "--device gpu: this build has no CUDA (make GPU=1)");
    return PP_EARG;
}

#endif

/* The calls below ask the GPU only where this rank computes on one
 * (on_device is set in the GPU's table alone). */
const pp_device *pp_backend_clock(void)
{
#ifdef PP_GPU
    if (pp_ops_now()->on_device) return &gpu_clock;
#endif
    return NULL;
}

void pp_backend_gemm_stats(double *flops, double *seconds, int reset)
{
#ifdef PP_GPU
    if (pp_ops_now()->on_device) {   /* the device's own times, into the same totals */
        double f, s;
        pp_gpu_gemm_stats(&f, &s);
        gemm_flops += f, gemm_seconds += s;
    }
#endif
    *flops = gemm_flops, *seconds = gemm_seconds;
    if (reset) gemm_flops = gemm_seconds = 0;
}

double pp_backend_gemm_ops(void)
{
#ifdef PP_GPU
    if (pp_ops_now()->on_device) return pp_gpu_gemm_ops();
#endif
    return gemm_ops;
}

long pp_backend_free_bytes(void)
{
#ifdef PP_GPU
    size_t free_b = 0, total = 0;
    if (pp_ops_now()->on_device) return pp_gpu_mem_info(&free_b, &total) == 0 ? (long)free_b : -1;
#endif
    return -1;
}

pp_status pp_backend_use(const char *device, MPI_Comm comm, char *err, size_t n)
{
    pp_ops_now();   /* the CPU's set-up, whichever is used */
    if (strcmp(device, "cpu") == 0) return PP_OK;
    if (strcmp(device, "gpu") == 0) return use_gpu(comm, err, n);
    snprintf(err, n, "--device: '%s' is not a device: use cpu or gpu", device);
    return PP_EARG;
}
