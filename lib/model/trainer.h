/* trainer.h -- the trainer's state (train.c), shared with the files that
 * serve it: the GPU's message buffers (mirror.c), and the parameters
 * gathered whole and the --dump files (dump.c).  Internal to the model layer.
 */
#ifndef PP_TRAINER_H
#define PP_TRAINER_H

#include "model.h"

/* GPU ranks: the buffer each message crossing to another rank travels in to
 * and from MPI (slot i as train.c numbers them, NULL where none), made for
 * M micro-batches and kept while M stays (a page-locked allocation costs
 * milliseconds); the ticket of each outgoing one's copy into it; and host
 * room for the collectives' vectors. */
typedef struct {
    float **buf;
    int *ticket;
    int n, M;
    float *scratch;
    long scratch_n;
} pp_mirrors;

/* What one block keeps for one micro-batch between its forward and its
 * weight gradient. */
typedef struct {
    pp_tensor *x;     /* block input (rows x width) */
    pp_tensor *h;     /* x W1 + b1 (rows x hidden): freed once dh is made */
    pp_tensor *a;     /* gelu(h) (rows x hidden) */
    pp_tensor *dy;    /* gradient at the block output (rows x width), kept from I to W */
    pp_tensor *dh;    /* gradient at h (rows x hidden), kept from I to W */
    /* with the end layers (cfg.features > 0): */
    pp_tensor *out_x;  /* the last block's output, the output layer's input (rows x width) */
    pp_tensor *out_dy; /* the loss gradient at the output layer's output (rows x features) */
    pp_tensor *in_dy;  /* the gradient at the input layer's output, the first block's dx
                          (rows x width), kept from I to W */
} saved;

/* Message buffers, by direction: received by stage s from s-1, sent by s to
 * s+1, received by s from s+1, sent by s to s-1. */
enum { IN_F, OUT_F, IN_B, OUT_B, NDIRS };

struct pp_trainer {
    const pp_grid *g;
    pp_model_cfg cfg;
    pp_partition part;
    int S, me;            /* stages; this rank's place in its pipeline */
    int share;            /* samples of each batch this replica trains on: batch / D */
    pp_reducer tp;        /* the group's sum (T > 1) */
    pp_comm_stats comm;   /* this step's communication */
    double cpu_s;         /* this step's computes: seconds on a CPU (the thread's clock) */
    double flops;         /* and the operations of their matrix multiplies */
    int infer;            /* this step runs forwards only (inference): nothing is kept for a backward */
    pp_waiter plain_wait; /* how a collective waits outside a step (inside: the step's waiter) */
    pp_action cur;        /* the compute under way (for the collectives' events) */
    pp_step *step_now;    /* the executor's step the compute under way belongs to */
    int stage_rank[PP_MAX_STAGES];
    pp_mem mem;
    pp_block *w, *grad;   /* [depth]: only this rank's blocks are allocated */
    pp_tensor *Win, *gin;   /* first stage, with features: the input layer (features x width), its gradient */
    pp_tensor *Wout, *gout; /* last stage, with features: the output layer (width x features), its gradient */
    /* the step under way */
    int step, M, rows;
    pp_tensor *A;         /* last stage: the teacher's matrix (io x io, pp_model_io), made once */
    /* x, targets and y are kept until the next step starts, for --dump */
    pp_tensor *x;         /* first and last stage: the batch's inputs (batch x io) */
    pp_tensor *targets;   /* last stage: targets (batch x io) */
    pp_tensor *y;         /* last stage: the model's outputs (batch x io) */
    pp_tensor **msg;      /* [NDIRS][S*M] message buffers, NULL where none */
    pp_mirrors mirrors;   /* GPU ranks: the buffers messages travel in (mirror.c) */
    saved *sv;            /* [depth * M] */
    int w_next[PP_MAX_STAGES];   /* per stage: the micro-batch whose W is added next */
    char *w_asked;        /* [S*M] the schedule ran this W, its turn has not come */
    double *mb_loss;      /* [M] last stage: each micro-batch's loss, added in order at the step's end */
    double loss;          /* last stage: this step's loss (on the others 0 until the broadcast) */
    pp_work work;
};

static inline int mine(const pp_trainer *tr, int s)
{
    return tr->stage_rank[s] == tr->me;
}

/* Where the message of direction dir, stage s and micro-batch m sits in
 * the step's [NDIRS][S*M] lists (buffers, their copies, their tickets). */
static inline size_t slot(const pp_trainer *tr, int dir, int s, int m)
{
    return (size_t)dir * tr->S * tr->M + (size_t)s * tr->M + m;
}

static inline pp_tensor **msg(pp_trainer *tr, int dir, int s, int m)
{
    return &tr->msg[slot(tr, dir, s, m)];
}

/* Does that message come from, or go to, another rank? */
static inline int crosses(const pp_trainer *tr, int dir, int s)
{
    int other = dir == IN_F || dir == OUT_B ? s - 1 : s + 1;   /* the stage at the other end */
    return other >= 0 && other < tr->S && !mine(tr, other);
}

/* ---- mirror.c ---- */

/* For a step of M micro-batches on a GPU rank: a buffer of `bytes` for every
 * slot i < n where need[i] is set (nothing on the CPU, nothing new while M
 * stays: pp_mirrors_needed says whether there is anything to make); all freed. */
int pp_mirrors_needed(const pp_mirrors *mr, int M);
pp_status pp_mirrors_make(pp_mirrors *mr, int M, int n, const char *need, size_t bytes);
void pp_mirrors_free(pp_mirrors *mr);
/* Slot i's buffer, or NULL: the tensor goes to MPI as it is. */
float *pp_mirror(const pp_mirrors *mr, size_t i);
/* Slot i's message has just been made: count floats from `from`, on their
 * way into its buffer at `first`; ready once that copy has ended. */
void pp_mirror_out(pp_mirrors *mr, size_t i, const float *from, long first, long count);
int pp_mirror_ready(const pp_mirrors *mr, size_t i);
/* Host memory for a collective's vector of n floats (buf itself on the
 * CPU), holding buf's values; and the result back where it belongs. */
float *pp_host_vector(pp_mirrors *mr, float *buf, long n);
void pp_host_vector_back(float *buf, const float *host, long n);

#endif /* PP_TRAINER_H */
