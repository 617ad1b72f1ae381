/* dump.c -- what leaves the trainer: its parameters gathered whole on rank 0
 * (pp_trainer_params, for the check against one process), and --dump: the
 * trained model and the last batch as NumPy .npy files, one per block part
 * (W1, b1, W2, b2) and end layer (input_layer_W, output_layer_W), and the
 * batch's input, targets and outputs, so that a
 * student can check the pipeline's model in Python.  Every rank's files go
 * into place only if every rank wrote its own.
 */
#include "trainer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Puts slice tp_rank of T of a block (W1 columns, b1, W2 rows, b2) into the whole
 * block's layout W1, b1, W2, b2. */
static void place_slice(const pp_model_cfg *c, int T, int tp_rank, const float *slice, float *whole)
{
    int d = c->width, f = c->hidden, fs = f / T;
    float *W1 = whole, *b1 = W1 + (long)d * f, *W2 = b1 + f, *b2 = W2 + (long)f * d;
    for (int i = 0; i < d; i++) memcpy(W1 + (long)i * f + (long)tp_rank * fs, slice + (long)i * fs, (size_t)fs * sizeof *W1);
    slice += (long)d * fs;
    memcpy(b1 + (long)tp_rank * fs, slice, (size_t)fs * sizeof *b1);
    slice += fs;
    memcpy(W2 + (long)tp_rank * fs * d, slice, (size_t)fs * d * sizeof *W2);
    slice += (long)fs * d;
    memcpy(b2, slice, (size_t)d * sizeof *b2);
}

/* Sends tensor w's numbers to rank 0 of comm, from a host copy; without
 * memory for one, an empty message (the receive is always met). */
static pp_status send_host(const pp_tensor *w, int tag, MPI_Comm comm)
{
    float *host = malloc(pp_tensor_bytes(w) + 1);
    if (host) pp_ops_now()->to_host(host, w->data, pp_tensor_bytes(w));
    int rc = MPI_Send(host, host ? w->rows * w->cols : 0, MPI_FLOAT, 0, tag, comm);
    free(host);
    return !host ? PP_ENOMEM : rc == MPI_SUCCESS ? PP_OK : PP_EMPI;
}

pp_status pp_trainer_params(pp_trainer *tr, float *params)
{
    return pp_trainer_params_of(tr, 0, params);
}

pp_status pp_trainer_params_of(pp_trainer *tr, int replica, float *params)
{
    const pp_grid *g = tr->g;
    if (replica < 0 || replica >= tr->g->D) return PP_EARG;   /* the same verdict on every rank */
    long per = pp_block_params(&tr->cfg), fs = tr->cfg.hidden / tr->g->T;
    long slice = 2 * (long)tr->cfg.width * fs + fs + tr->cfg.width;
    float *buf = malloc((size_t)slice * sizeof *buf);
    pp_status st = buf ? PP_OK : PP_ENOMEM;
    /* Slice by slice: the owner sends, rank 0 receives in the same order, so
     * each blocking send meets its receive. */
    for (int s = 0; s < tr->S; s++)
        for (int l = tr->part.first[s]; l < tr->part.first[s + 1]; l++)
            for (int k = 0; k < tr->g->T; k++) {
                int owner = pp_place_rank(g->P, g->T, tr->stage_rank[s], k, replica);
                if (owner == g->rank) {
                    if (st == PP_OK) st = pp_block_to_host(&tr->w[l], buf);
                    if (owner != 0 && MPI_Send(buf, (int)slice, MPI_FLOAT, 0, l, g->all) != MPI_SUCCESS) st = PP_EMPI;
                } else if (g->rank == 0 &&
                           MPI_Recv(buf, (int)slice, MPI_FLOAT, owner, l, g->all, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
                    st = PP_EMPI;
                }
                if (g->rank == 0 && st == PP_OK) place_slice(&tr->cfg, tr->g->T, k, buf, params + l * per);
            }
    free(buf);
    /* Then the end layers, after the blocks: Win from the first stage's
     * rank, Wout from the last's (tensor-parallel slice 0 of the replica).
     * Every send meets its receive whatever failed before. */
    for (int k = 0; k < 2 && tr->cfg.features > 0; k++) {
        int owner = pp_place_rank(g->P, g->T, tr->stage_rank[k ? tr->S - 1 : 0], 0, replica);
        long n = (long)tr->cfg.features * tr->cfg.width;
        float *at = params ? params + (long)tr->cfg.depth * per + k * n : NULL;
        pp_tensor *w = k ? tr->Wout : tr->Win;
        pp_status got = PP_OK;
        if (owner == g->rank && g->rank == 0) pp_ops_now()->to_host(at, w->data, pp_tensor_bytes(w));
        else if (owner == g->rank) got = send_host(w, tr->cfg.depth + k, g->all);
        else if (g->rank == 0 && MPI_Recv(at, (int)n, MPI_FLOAT, owner, tr->cfg.depth + k, g->all, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            got = PP_EMPI;
        if (st == PP_OK) st = got;
    }
    return st;
}

pp_status pp_npy_write(const char *path, const float *data, int rows, int cols)
{
    char head[128];
    int n = snprintf(head, sizeof head, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols);
    /* Magic (6) + version (2) + length (2) + header, padded with spaces to a
     * multiple of 64 and ended by a newline, as the format asks. */
    int total = (10 + n + 1 + 63) / 64 * 64;
    while (10 + n + 1 < total) head[n++] = ' ';
    head[n++] = '\n';
    FILE *f = fopen(path, "wb");
    if (!f) return PP_EIO;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(n & 0xff), (unsigned char)(n >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(head, 1, (size_t)n, f) == (size_t)n &&
             fwrite(data, sizeof *data, (size_t)rows * cols, f) == (size_t)rows * cols;
    return fclose(f) == 0 && ok ? PP_OK : PP_EIO;
}

/* Writes rows x cols floats as dir/name.npy.tmp; adds the name to the list
 * to rename. */
static pp_status dump_host(const char *dir, const char *name, const float *host, int rows, int cols,
                           char names[][48], int *n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.npy.tmp", dir, name);
    snprintf(names[(*n)++], 48, "%s", name);
    return pp_npy_write(path, host, rows, cols);
}

static pp_status dump_one(const char *dir, const char *name, const pp_tensor *x, char names[][48], int *n)
{
    float *host = malloc(pp_tensor_bytes(x) + 1);
    if (!host) return PP_ENOMEM;
    pp_ops_now()->to_host(host, x->data, pp_tensor_bytes(x));
    pp_status st = dump_host(dir, name, host, x->rows, x->cols, names, n);
    free(host);
    return st;
}

/* Part k of block w, in the model's layout (pp_block_part_to_host). */
static pp_status dump_part(const char *dir, const char *name, const pp_block *w, int k, char names[][48], int *n)
{
    float *host = malloc(pp_tensor_bytes(w->W1));   /* the largest part: W1 and W2 are the same size */
    int rows, cols;
    pp_status st = host ? pp_block_part_to_host(w, k, host, &rows, &cols) : PP_ENOMEM;
    if (st == PP_OK) st = dump_host(dir, name, host, rows, cols, names, n);
    free(host);
    return st;
}

/* This rank's files, as .tmp, their names added to `names`: its blocks'
 * parts, and the batch's input (first stage), targets and outputs (last). */
static pp_status dump_mine(pp_trainer *tr, const char *dir, char names[][48], int *n)
{
    static const char *part_name[4] = {"W1", "b1", "W2", "b2"};
    pp_status st;
    for (int l = 0; l < tr->cfg.depth; l++) {
        if (!tr->w[l].W1) continue;
        for (int k = 0; k < 4; k++) {
            char name[48];
            snprintf(name, sizeof name, "block%d_%s", l, part_name[k]);
            if ((st = dump_part(dir, name, &tr->w[l], k, names, n)) != PP_OK) return st;
        }
    }
    if (tr->Win && (st = dump_one(dir, "input_layer_W", tr->Win, names, n)) != PP_OK) return st;
    if (tr->Wout && (st = dump_one(dir, "output_layer_W", tr->Wout, names, n)) != PP_OK) return st;
    if (mine(tr, 0) && tr->x && (st = dump_one(dir, "input", tr->x, names, n)) != PP_OK) return st;
    if (!mine(tr, tr->S - 1) || !tr->y) return PP_OK;
    if ((st = dump_one(dir, "target", tr->targets, names, n)) != PP_OK) return st;
    return dump_one(dir, "output", tr->y, names, n);
}

pp_status pp_trainer_dump(pp_trainer *tr, const char *dir, char *err, size_t errlen)
{
    if (tr->g->T * tr->g->D > 1) {
        snprintf(err, errlen, "--dump: writes whole blocks from one pipeline: run it with --tp 1 --dp 1");
        return PP_EARG;
    }
    int cap = 4 * tr->cfg.depth + 5, n = 0;
    char (*names)[48] = calloc((size_t)cap, sizeof *names);
    pp_status st = names ? dump_mine(tr, dir, names, &n) : PP_ENOMEM;
    /* Every rank's files go into place only if every rank wrote its own. */
    int ok = st == PP_OK, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, tr->g->all);
    for (int i = 0; i < n; i++) {
        char from[4096], to[4096];
        snprintf(from, sizeof from, "%s/%s.npy.tmp", dir, names[i]);
        snprintf(to, sizeof to, "%s/%s.npy", dir, names[i]);
        if (!all || rename(from, to) != 0) unlink(from);
    }
    free(names);
    if (!all) snprintf(err, errlen, "--dump: could not write the .npy files into '%s' (%s)", dir,
                       ok ? "another rank failed" : strerror(errno));
    return all ? PP_OK : PP_EIO;
}
