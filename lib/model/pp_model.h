/* pp_model.h -- real compute for libpp: float32 tensors whose memory is
 * counted by role, a small MLP, its single-process reference run, and the
 * trainer that splits it over the pipeline (and over a grid: Megatron-style
 * tensor parallelism, data-parallel replicas).
 *
 * The trainer plugs into the core's executor as its pp_work: every schedule
 * that validates trains the model, and the result equals the single-process
 * run of the same micro-batch loop bit for bit.
 */
#ifndef PP_MODEL_H
#define PP_MODEL_H

#include "pp.h"
#include "pp_plugin.h"

/* ---- tensors and memory ------------------------------------------------- */

/* What a piece of memory is for.  Every tensor is counted under one role on
 * the rank that allocated it, so memory figures come from the allocations. */
typedef enum {
    PP_MEM_PARAMS,  /* weights and biases */
    PP_MEM_GRADS,   /* their gradients, accumulated over the micro-batches */
    PP_MEM_ACTS,    /* activations a forward stores for its backward */
    PP_MEM_COMM,    /* buffers that messages between stages travel in */
    PP_MEM_IW,      /* gradients an input-gradient pass (I) keeps for its weight pass (W) */
    PP_MEM_OTHER,   /* the input batch, targets, scratch space */
    PP_MEM_NROLES
} pp_mem_role;

/* Bytes in use now and at their peak, per role and in all. */
typedef struct {
    long now[PP_MEM_NROLES], peak[PP_MEM_NROLES];
    long now_total, peak_total;
} pp_mem;

/* A row-major matrix of float32: rows x cols, in the backend's memory. */
typedef struct {
    float *data;
    int rows, cols;
    pp_mem_role role;
    pp_mem *mem;        /* the counter it is charged to (may be NULL) */
} pp_tensor;

/* Allocates a zeroed rows x cols tensor charged to `mem` under `role`. */
pp_status pp_tensor_new(pp_mem *mem, pp_mem_role role, int rows, int cols, pp_tensor **out);
void pp_tensor_free(pp_tensor *t);
/* Copies all of t's numbers to host memory (rows x cols floats), or from
 * it: what MPI sends and what the host reads, wherever t lives. */
void pp_tensor_to_host(const pp_tensor *t, float *host);
void pp_tensor_from_host(pp_tensor *t, const float *host);
/* A checksum students can compare by eye: the sum of all elements, in double. */
double pp_tensor_sum(const pp_tensor *t);
/* Resets the peaks to the amounts in use now (between phases). */
void pp_mem_reset_peak(pp_mem *m);
/* Collective over comm, before any tensor is made: the backend this
 * process's tensors live on, "cpu" (the default) or "gpu".  On a GPU each
 * rank takes device (its place among the ranks of its machine) mod (the
 * GPUs there), so ranks share GPUs when there are more ranks.  PP_EARG with
 * one line in err where the build has no CUDA or the machine no GPU. */
pp_status pp_backend_use(const char *device, MPI_Comm comm, char *err, size_t errlen);
/* The backend the tensors live on: "cpu (OpenBLAS, 1 thread per rank)". */
const char *pp_backend_name(void);
/* The device this rank computes on: "cpu", or "GPU 0 (NVIDIA H200)". */
const char *pp_backend_device(void);
/* The index of this rank's GPU on its machine, or -1 on the CPU. */
int pp_backend_gpu(void);
/* The GPU as the executor sees it, for pp_exec_opts.device (NULL on the
 * CPU): every compute's time from the device's clock, and in timed mode a
 * compute that keeps the device busy. */
const pp_device *pp_backend_clock(void);
/* The backend's first failure ("" if none): a CUDA error, on a GPU. */
const char *pp_backend_error(void);
/* Bytes free on this rank's GPU, or -1 on the CPU. */
long pp_backend_free_bytes(void);
/* Floating-point operations and seconds spent in matrix multiplies on this
 * rank since the last reset (reset: start counting again); on a GPU, the
 * device's own time for them. */
void pp_backend_gemm_stats(double *flops, double *seconds, int reset);
/* Floating-point operations of every matrix multiply on this rank since the
 * start, counted as they are queued (no timing: on a GPU, asking changes
 * nothing). */
double pp_backend_gemm_ops(void);

/* ---- the model ---------------------------------------------------------- */

/* `depth` blocks y = x + gelu(x W1 + b1) W2 + b2 of width `width` (W1: width
 * x hidden, W2: hidden x width), trained with SGD on the mean squared error
 * against a fixed random teacher, y* = tanh(x A).  Every number (inputs,
 * teacher, initial weights) comes from `seed`, keyed by position, so any rank
 * can make exactly the part it needs. */
typedef struct {
    int depth, width, hidden;
    int batch;          /* samples per step, split into M micro-batches */
    int steps;          /* training steps a demo runs */
    float lr;           /* SGD learning rate */
    unsigned long seed;
    int checkpoint;     /* activation checkpointing: a forward keeps only its stage's input,
                           and the backward runs the forward again to have the rest */
    int features;       /* 0: the model reads and predicts `width` numbers a sample.  K > 0:
                           it reads K features and predicts K: an input layer x Win (Win:
                           K x width) before the first block, on the first stage, and an
                           output layer y Wout (Wout: width x K) before the loss, on the
                           last: the extra work an embedding and an output head give
                           the end stages of a real model.  Plain matrices, no biases. */
} pp_model_cfg;

void pp_model_cfg_default(pp_model_cfg *c);
/* Floats in one block's parameters: 2*width*hidden + hidden + width. */
long pp_block_params(const pp_model_cfg *c);
/* Floats in the whole model's parameters: the blocks', then (features > 0)
 * Win's and Wout's. */
long pp_model_params(const pp_model_cfg *c);
/* Numbers a sample has at the model's input and output: features, or width. */
int pp_model_io(const pp_model_cfg *c);
/* Floats a forward stores per micro-batch of `rows` samples for a stage of
 * `blocks` blocks: each block keeps its input x, h = x W1 + b1 and gelu(h);
 * the last stage also keeps the loss gradient (and with an output layer,
 * its input). */
long pp_stage_act_floats(const pp_model_cfg *c, int blocks, int last, int rows);
/* The inputs of samples first .. first + x->rows - 1 of step `step` (x: rows x io, pp_model_io). */
pp_status pp_model_inputs(const pp_model_cfg *c, int step, int first, pp_tensor *x);

/* Which blocks each stage runs: stage s runs blocks first[s] .. first[s+1]-1. */
#define PP_MAX_STAGES 64
typedef struct {
    int nstages, depth;
    int first[PP_MAX_STAGES + 1];
} pp_partition;

/* A partition of `depth` blocks over S stages.  `how`: "front" (equal shares,
 * the remainder one each to the first stages), "back" (to the last stages),
 * "balanced" (contiguous shares that make the slowest stage as fast as
 * possible, by the measured cost per block in `cost`, [depth]), or counts
 * such as "3,5,4,4".  A bad request gives PP_EARG and a one-line reason. */
pp_status pp_partition_make(const char *how, int depth, int S, const double *cost, pp_partition *out,
                            char *err, size_t errlen);
/* "0-2 | 3-7 | 8-11 | 12-15" */
void pp_partition_str(const pp_partition *p, char *buf, size_t n);

/* Measures, on this rank, the seconds one block takes for a micro-batch of
 * `rows` samples: forward, backward (B), its input half (I) and weight half
 * (W); the loss and its gradient, which the last stage's forward adds; and
 * with features > 0 the input layer's forward and backward (first stage)
 * and the output layer's, its forward with the loss over its width (last
 * stage; 0 without).  (Inputs and targets are
 * made before the step starts, so they cost no stage anything.)  Medians
 * of five runs after one to warm up. */
enum { PP_COST_F, PP_COST_B, PP_COST_I, PP_COST_W, PP_COST_LOSS, PP_COST_IN_F, PP_COST_IN_B, PP_COST_OUT_F,
       PP_COST_OUT_B, PP_MODEL_NCOSTS };
pp_status pp_model_measure(const pp_model_cfg *c, int rows, double cost[PP_MODEL_NCOSTS]);
/* Seconds each block's forward and backward take for one micro-batch, from
 * measured costs ([depth]): the loss's are added to the last block's, and
 * if c has end layers the input layer's to block 0's and the output
 * layer's (with its loss) to the last block's; with checkpointing a
 * backward runs its forward again first (the output layer's and the loss
 * too).  A stage costs its blocks' sum. */
void pp_model_block_s(const pp_model_cfg *c, const double cost[PP_MODEL_NCOSTS], double *block_s);

/* ---- the single-process reference --------------------------------------- */

/* The whole model on this process, the same micro-batch loop with no
 * pipeline (each micro-batch forward through every block, then backward,
 * gradients added in micro-batch order, SGD after the last).  params (may be
 * NULL) receives pp_model_params() floats: block by block W1, b1, W2, b2,
 * then (with end layers) Win and Wout; losses (may be NULL) one loss per step; mem (may be NULL) counts
 * its allocations. */
pp_status pp_reference_train(const pp_model_cfg *c, int M, int steps, float *params, double *losses, pp_mem *mem);
/* The same with D data-parallel replicas: replica r takes samples
 * r B/D .. (r+1) B/D - 1 in M micro-batches; the replicas' sums are added in
 * replica order (as the grid's ordered all-reduce does). */
pp_status pp_reference_train_dp(const pp_model_cfg *c, int D, int M, int steps, float *params, double *losses,
                                 pp_mem *mem);
/* The forward of x (batch rows) into y, from the starting weights. */
pp_status pp_reference_forward(const pp_model_cfg *c, const pp_tensor *x, pp_tensor *y);

/* ---- the trainer: the model split over the pipeline --------------------- */

/* This rank's share of the model and what one step needs.  Opaque. */
typedef struct pp_trainer pp_trainer;

/* What one rank's communication of one step adds up to, counted where the
 * bytes are handed to MPI.  "size" is the vector a collective works on;
 * "sent" the bytes this rank itself sent to others. */
typedef struct {
    long pipe_bytes;     /* pipeline messages (activations and gradients) sent */
    int pipe_msgs;
    long tp_size, tp_sent;      /* tensor-parallel all-reduces (two per block and micro-batch) */
    int tp_calls;
    double tp_s;
    long gather_size, gather_sent;  /* all-gathers of the slices a stage received */
    int gather_calls;
    double gather_s;
    long dp_size, dp_sent;      /* data-parallel all-reduce of the gradients, after the last micro-batch */
    int dp_calls;
    double dp_s;
} pp_comm_stats;

/* Collective over the grid: every rank makes the weights of the blocks of
 * the stages it runs (stage s on pipeline rank stage_rank[s]; NULL: stage s
 * on rank s), from the seed, so they equal the single-process start.  With
 * T > 1 each rank holds slice t of every block (hidden columns of W1, rows of
 * W2: T must divide the hidden width); with D > 1 replica d trains on samples
 * d B/D .. (d+1) B/D - 1 of each batch (D x M must divide the batch). */
pp_status pp_trainer_new(const pp_grid *g, const pp_model_cfg *c, const pp_partition *part,
                         const int *stage_rank, pp_trainer **out);
void pp_trainer_free(pp_trainer *t);
/* One training step under the lowered schedule s (collective): makes the
 * batch, runs s with real compute, then the SGD update.  o's watch and poll
 * settings are used; its ticks and payload are not.  Rank 0 gets the step's
 * events in *meas (as pp_exec_step); every rank gets the step's loss. */
pp_status pp_trainer_step(pp_trainer *t, const pp_sched *lowered, const pp_exec_opts *o, pp_run **meas,
                          double *loss);
/* The last step's outputs (batch x io, micro-batch after micro-batch) on
 * the rank that runs the last stage; NULL on the others. */
const pp_tensor *pp_trainer_outputs(const pp_trainer *t);
/* Runs stage `stage`'s blocks forward on x (rows x width) into y (not x),
 * storing nothing; the end layers are not run. */
pp_status pp_trainer_forward_stage(pp_trainer *t, int stage, const pp_tensor *x, pp_tensor *y);
/* Collective: rank 0 receives every parameter, the blocks' and the end
 * layers' (as pp_reference_train lays them out). */
pp_status pp_trainer_params(pp_trainer *t, float *params);
/* The same from one replica (data parallel), put together from its slices. */
pp_status pp_trainer_params_of(pp_trainer *t, int replica, float *params);
/* This rank's communication in the last step; collective: rank 0 gets every rank's ([size]). */
const pp_comm_stats *pp_trainer_comm(const pp_trainer *t);
pp_status pp_trainer_comm_all(pp_trainer *t, pp_comm_stats *all);
/* Seconds this rank's computes (F, B, I, W) ran on a CPU in the last step,
 * by the thread's own clock: their work, without the time they waited for
 * a core that other ranks held (on a GPU rank: the host's part alone). */
double pp_trainer_cpu_s(const pp_trainer *t);
/* Floating-point operations of the matrix multiplies this rank's computes
 * (F, B, I, W) made in the last step, counted as they ran: the model's work
 * alone (the targets, made before the step, are not in it). */
double pp_trainer_flops(const pp_trainer *t);
/* This rank's memory, counted by role; collective: rank 0 gets every rank's ([P]). */
pp_mem *pp_trainer_mem(pp_trainer *t);
pp_status pp_trainer_mem_all(pp_trainer *t, pp_mem *all);
/* Blocks stage s runs: first block in *first, how many returned. */
int pp_trainer_blocks(const pp_trainer *t, int stage, int *first);
/* Stored-activation bytes one micro-batch leaves on stage `stage` (formula). */
long pp_trainer_act_bytes(const pp_trainer *t, int stage, int M);
/* Bytes the stage's input takes for one micro-batch (formula): all that a
 * forward keeps under checkpointing. */
long pp_trainer_input_bytes(const pp_trainer *t, int stage, int M);
/* Peak stored-activation bytes on stage `stage` while it holds `held`
 * micro-batches at once (formula): held x pp_trainer_act_bytes; under
 * checkpointing (held - 1) x pp_trainer_input_bytes for the inputs kept,
 * plus one micro-batch's whole activations while its backward recomputes
 * them (its input is their first x).  Holds where the peak comes with a
 * backward that frees as soon as it ends (GPipe, 1F1B: not when W waits). */
long pp_trainer_peak_act_bytes(const pp_trainer *t, int stage, int M, int held);
/* Bytes an I of one micro-batch keeps on stage `stage` until its W (formula). */
long pp_trainer_iw_bytes(const pp_trainer *t, int stage, int M);
/* Collective: writes the weights (blockL_W1.npy ..., and input_layer_W.npy
 * and output_layer_W.npy with end layers) and the last step's
 * input.npy, target.npy and output.npy into dir, each by the rank that holds
 * it, as NumPy files; into place only if every rank succeeded.  On failure
 * PP_EIO with the reason in err (rank 0). */
pp_status pp_trainer_dump(pp_trainer *t, const char *dir, char *err, size_t errlen);

#endif /* PP_MODEL_H */
