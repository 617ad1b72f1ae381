/* live.c -- the live view's channel between the ranks while a step runs:
 * every rank streams its events to rank 0, and rank 0 sends back what the
 * keys ask for (pause, step, speed, quit).
 *
 * All of it travels on a communicator of its own (a duplicate of the
 * pipeline's), so no live message can ever match a receive of the step.
 * Events go in batches, at most one batch in flight per rank and one every
 * FLUSH_S, so recording them costs a rank one small MPI_Isend now and then.
 * A pause holds every rank before its next compute action; a step lets
 * exactly one compute action run: the one the simulator predicted to start
 * first among the actions the ranks are holding at.  Its inputs are then
 * always on their way (they were predicted to be made earlier), so a step can
 * never wait for another step.
 * Quitting does not abandon messages in flight: the ranks finish the step
 * with ticks of zero length (milliseconds), so every send meets its receive
 * and MPI ends cleanly.
 * The streamed events are the step's record: they go into the view's run,
 * which rank 0's executor takes at the end instead of gathering them again.
 * So an event is streamed only once it is final: a send still on its way
 * (its end unknown) holds back itself and what follows it.
 * Left out on purpose: drawing (view.c) and the terminal (term.c).
 */
#include "view.h"

#include <stdlib.h>
#include <string.h>

enum { TAG_EVENTS = 1, TAG_DONE = 2, TAG_CTL = 3, TAG_STATE = 4, TAG_VERDICT = 5 };
enum { CTL_PAUSE = 1, CTL_RESUME, CTL_STEP, CTL_QUIT, CTL_TICK, CTL_END };

static const double FLUSH_S = 0.025;   /* a batch of events at most every 25 ms: 40 frames a second */

/* A control message from rank 0: what, for which run, and a value (a tick in seconds). */
typedef struct {
    int run, what;
    double value;
} ctl_msg;

/* A rank's report to rank 0 while paused: it holds with `done` compute actions behind it. */
typedef struct {
    int run, done;
} state_msg;

struct pp_live {
    MPI_Comm comm;
    int rank, size;       /* in the whole grid: every pipeline of it shows */
    const pp_grid *g;     /* the grid (its shape may change between steps: demo 06) */
    pp_view *view;        /* rank 0: where events and keys live */
    int run;              /* counts the steps run with this channel */

    pp_watch watch;       /* the executor's hooks into this channel */

    /* Control state, on every rank. */
    int paused, grants, quit, reported, ended;
    int retimed;          /* rank 0: + or - changed the tick during this step */
    double tick_s;        /* the tick in force (the keys change it) */
    int done;             /* compute actions this rank has run in this step */
    int counted;          /* events of this rank looked at for `done` */

    /* Sending side (ranks other than 0). */
    int sent;             /* events of this step already sent */
    pp_event open_sent;   /* the action under way as last sent (type -1: none) */
    double last_flush;
    pp_event *out;        /* [out_cap] the batch in flight, owned */
    int out_cap, out_busy;
    MPI_Request out_req;
    ctl_msg ctl_in;       /* the control message being received */
    MPI_Request ctl_req;
    state_msg state_out;
    MPI_Request state_req;
    int state_busy;

    /* Rank 0: who has finished, and where each rank holds. */
    int *finished;        /* [size] */
    int *known;           /* [size] compute actions each rank has run (exact once reported) */
    int *rep;             /* [size] has reported since the pause */
    double **pred_t0;     /* [size][computes] predicted start of each compute action */
    pp_event **pred_ev;   /* [size][computes] which action it is */
    int *pred_n;          /* [size] */
    int want_steps;
    char next_shown[96];  /* what the view was last told runs next */
};

static void on_start(void *ctx, double start, int cores);
static pp_status on_poll(void *ctx, const pp_evlist *mine, const pp_event *open, double now, int waiting);
static int on_hold(void *ctx);
static double on_tick(void *ctx);
static pp_status on_end(void *ctx, const pp_evlist *mine, pp_run **all);

pp_status pp_live_new(const pp_grid *g, pp_view *view, pp_live **out)
{
    pp_live *l = calloc(1, sizeof *l);
    if (!l) return PP_ENOMEM;
    l->rank = g->rank;
    l->size = g->size;
    l->g = g;
    l->view = view;
    l->watch = (pp_watch){l, on_start, on_poll, on_hold, on_tick, on_end};
    l->ctl_req = l->out_req = l->state_req = MPI_REQUEST_NULL;
    if (MPI_Comm_dup(g->all, &l->comm) != MPI_SUCCESS) {
        free(l);
        return PP_EMPI;
    }
    if (l->rank != 0 &&
        MPI_Irecv(&l->ctl_in, (int)sizeof l->ctl_in, MPI_BYTE, 0, TAG_CTL, l->comm, &l->ctl_req) != MPI_SUCCESS)
        return PP_EMPI;
    *out = l;
    return PP_OK;
}

static void free_pred(pp_live *l)
{
    for (int r = 0; l->pred_t0 && r < l->size; r++) free(l->pred_t0[r]);
    for (int r = 0; l->pred_ev && r < l->size; r++) free(l->pred_ev[r]);
    free(l->pred_t0);
    free(l->pred_ev);
    free(l->pred_n);
    l->pred_t0 = NULL;
    l->pred_ev = NULL;
    l->pred_n = NULL;
}

void pp_live_free(pp_live *l)
{
    if (!l) return;
    if (l->ctl_req != MPI_REQUEST_NULL) {
        MPI_Cancel(&l->ctl_req);
        MPI_Wait(&l->ctl_req, MPI_STATUS_IGNORE);
    }
    free(l->out);
    free(l->finished);
    free(l->known);
    free(l->rep);
    free_pred(l);
    MPI_Comm_free(&l->comm);
    free(l);
}

/* Rank 0: the predicted start of every compute action, to choose steps by.
 * The prediction has one row per pipeline stage; every rank of the grid
 * takes the row of its stage. */
static pp_status keep_prediction(pp_live *l, const pp_run *pred)
{
    free_pred(l);
    l->pred_t0 = calloc((size_t)l->size, sizeof *l->pred_t0);
    l->pred_ev = calloc((size_t)l->size, sizeof *l->pred_ev);
    l->pred_n = calloc((size_t)l->size, sizeof *l->pred_n);
    if (!l->pred_t0 || !l->pred_ev || !l->pred_n) return PP_ENOMEM;
    for (int r = 0; r < l->size && pred; r++) {
        int p, t, d;
        pp_place(l->g->P, l->g->T, r, &p, &t, &d);
        const pp_evlist *ev = &pred->ranks[pred->nrows == l->size ? r : p];
        if (!(l->pred_t0[r] = malloc(((size_t)ev->n + 1) * sizeof(double))) ||
            !(l->pred_ev[r] = malloc(((size_t)ev->n + 1) * sizeof(pp_event))))
            return PP_ENOMEM;
        for (int i = 0; i < ev->n; i++)
            if (ev->ev[i].type == PP_EV_COMPUTE) {
                l->pred_ev[r][l->pred_n[r]] = ev->ev[i];
                l->pred_t0[r][l->pred_n[r]++] = ev->ev[i].t0;
            }
    }
    return PP_OK;
}

pp_status pp_live_begin(pp_live *l, const pp_run *pred, double tick_s)
{
    l->run++;
    l->paused = l->grants = l->quit = l->reported = l->done = l->counted = l->ended = l->retimed = 0;
    l->sent = 0;
    l->open_sent.type = -1;
    l->last_flush = 0;
    l->tick_s = tick_s;
    l->want_steps = 0;
    l->next_shown[0] = '\0';
    if (l->rank != 0) return PP_OK;
    free(l->finished);
    free(l->known);
    free(l->rep);
    l->finished = calloc((size_t)l->size, sizeof *l->finished);
    l->known = calloc((size_t)l->size, sizeof *l->known);
    l->rep = calloc((size_t)l->size, sizeof *l->rep);
    if (!l->finished || !l->known || !l->rep) return PP_ENOMEM;
    l->finished[0] = 1;
    if (l->view) pp_view_set_control(l->view, 0, tick_s);
    return keep_prediction(l, pred);
}

const pp_watch *pp_live_watch(pp_live *l)
{
    return &l->watch;
}

static void on_start(void *ctx, double start, int cores)
{
    pp_live *l = ctx;
    if (l->rank == 0 && l->view) pp_view_started(l->view, start, cores);
}

static double on_tick(void *ctx)
{
    pp_live *l = ctx;
    return l->quit ? 0 : l->tick_s;
}

/* ---- rank 0: keys in, control out ------------------------------------- */

static pp_status tell_all(pp_live *l, int what, double value)
{
    ctl_msg m = {l->run, what, value};
    for (int r = 1; r < l->size; r++)
        if (MPI_Send(&m, (int)sizeof m, MPI_BYTE, r, TAG_CTL, l->comm) != MPI_SUCCESS) return PP_EMPI;
    return PP_OK;
}

/* Rank 0, paused: the holding rank whose next compute action was predicted
 * to start first; -1 if none is left, -2 while some rank has not stopped yet. */
static int next_rank(const pp_live *l)
{
    int best = -1;
    for (int r = 0; r < l->size; r++) {
        if (!l->rep[r] && !l->finished[r]) return -2;  /* not everyone has stopped yet */
        if (l->known[r] >= l->pred_n[r]) continue;
        /* Predicted starts within a nanosecond are a tie: the lower rank goes first. */
        if (best < 0 || l->pred_t0[r][l->known[r]] < l->pred_t0[best][l->known[best]] - 1e-9) best = r;
    }
    return best;
}

/* Rank 0: tells the view which action n runs next while paused (and
 * nothing once resumed), when that changes. */
static void show_next(pp_live *l)
{
    char text[96] = "";
    int r = l->paused ? next_rank(l) : -3;
    if (r == -2) snprintf(text, sizeof text, "the ranks are stopping before their next compute");
    else if (r == -1) snprintf(text, sizeof text, "no compute action is left in this step");
    else if (r >= 0) {
        char a[24];
        const pp_event *e = &l->pred_ev[r][l->known[r]];
        pp_action_str((pp_action){e->stage, (pp_kind)e->kind, e->mb}, a, sizeof a);
        snprintf(text, sizeof text, "n runs %s on rank %d next (predicted first)", a, r);
    }
    if (strcmp(text, l->next_shown) == 0) return;
    snprintf(l->next_shown, sizeof l->next_shown, "%s", text);
    pp_view_set_next(l->view, text);
}

/* Rank 0: grants one compute action to the holding rank whose next action
 * was predicted to start first, once every rank has said where it holds. */
static pp_status grant_step(pp_live *l)
{
    int best = next_rank(l);
    if (best == -2) return PP_OK;
    l->want_steps--;
    if (best < 0) return PP_OK;
    /* A compute of a tensor-parallel group needs all T of its ranks (they
     * sum their partial results together): the step goes to the whole group. */
    int p, t, d;
    pp_place(l->g->P, l->g->T, best, &p, &t, &d);
    int T = l->g->T, first = pp_place_rank(l->g->P, l->g->T, p, 0, d), at = l->known[best];
    for (int r = first; r < first + T; r++) {
        if (r != best && (l->known[r] != at || l->known[r] >= l->pred_n[r])) continue;
        l->known[r]++;
        if (r == 0) {
            l->grants++;
            continue;
        }
        ctl_msg m = {l->run, CTL_STEP, 0};
        if (MPI_Send(&m, (int)sizeof m, MPI_BYTE, r, TAG_CTL, l->comm) != MPI_SUCCESS) return PP_EMPI;
    }
    return PP_OK;
}

static pp_status apply_key(pp_live *l, int cmd)
{
    switch (cmd) {
    case PP_CMD_PAUSE:
        l->paused = !l->paused;
        l->want_steps = 0;
        memset(l->rep, 0, (size_t)l->size * sizeof *l->rep);
        l->reported = 0;
        pp_view_set_control(l->view, l->paused, l->tick_s);
        return tell_all(l, l->paused ? CTL_PAUSE : CTL_RESUME, 0);
    case PP_CMD_STEP:
        if (l->paused) l->want_steps++;
        return PP_OK;
    case PP_CMD_FASTER:
    case PP_CMD_SLOWER:
        l->tick_s *= cmd == PP_CMD_FASTER ? 1 / 1.5 : 1.5;
        if (l->tick_s < 1e-4) l->tick_s = 1e-4;
        if (l->tick_s > 10) l->tick_s = 10;
        l->retimed = 1;
        pp_view_set_control(l->view, l->paused, l->tick_s);
        return tell_all(l, CTL_TICK, l->tick_s);
    case PP_CMD_QUIT:
        if (l->quit) return PP_OK;
        l->quit = 1;
        return tell_all(l, CTL_QUIT, 0);
    }
    return PP_OK;
}

/* Rank 0: takes in every batch of events and report that has arrived. */
static pp_status take_messages(pp_live *l)
{
    for (;;) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, l->comm, &flag, &st) != MPI_SUCCESS) return PP_EMPI;
        if (!flag) return PP_OK;
        int bytes = 0;
        MPI_Get_count(&st, MPI_BYTE, &bytes);
        char *buf = malloc(bytes ? (size_t)bytes : 1);
        if (!buf) return PP_ENOMEM;
        if (MPI_Recv(buf, bytes, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, l->comm, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
            free(buf);
            return PP_EMPI;
        }
        int r = st.MPI_SOURCE;
        if (st.MPI_TAG == TAG_EVENTS || st.MPI_TAG == TAG_DONE) {
            /* Finished events, then the one under way (see flush_events). */
            int n = bytes / (int)sizeof(pp_event);
            const pp_event *e = (const pp_event *)buf;
            if (l->view && n > 0) pp_view_add(l->view, r, e, n - 1, &e[n - 1]);
            if (st.MPI_TAG == TAG_DONE) l->finished[r] = 1;
        } else if (st.MPI_TAG == TAG_STATE) {
            state_msg m;
            memcpy(&m, buf, sizeof m);
            if (m.run == l->run && l->paused) {
                if (m.done > l->known[r]) l->known[r] = m.done;
                l->rep[r] = 1;
            }
        }
        free(buf);
    }
}

/* ---- other ranks: events out, control in ------------------------------ */

/* How many of the events are final (the first `ready` of them): a send
 * still on its way has no end yet, and stops the count. */
static int final_events(const pp_evlist *ev, int from)
{
    while (from < ev->n && ev->ev[from].t1 >= 0) from++;
    return from;
}

/* Sends rank 0 the final events not sent yet, then the action under way
 * (type -1 for none), as one message. */
static pp_status flush_events(pp_live *l, const pp_evlist *ev, int ready, const pp_event *open, int tag)
{
    int n = ready - l->sent;
    if (n + 1 > l->out_cap) {
        pp_event *grown = realloc(l->out, (size_t)(n + 1) * sizeof *grown);
        if (!grown) return PP_ENOMEM;
        l->out = grown;
        l->out_cap = n + 1;
    }
    if (n > 0) memcpy(l->out, ev->ev + l->sent, (size_t)n * sizeof *l->out);
    l->out[n] = *open;
    l->open_sent = *open;
    l->sent = ready;
    l->out_busy = 1;
    return MPI_Isend(l->out, (n + 1) * (int)sizeof *l->out, MPI_BYTE, 0, tag, l->comm, &l->out_req) == MPI_SUCCESS
               ? PP_OK : PP_EMPI;
}

/* Has the action under way changed since rank 0 last heard of it? */
static int open_changed(const pp_live *l, const pp_event *open)
{
    const pp_event *o = &l->open_sent;
    if (open->type != o->type) return 1;
    return open->type >= 0 && (open->kind != o->kind || open->stage != o->stage || open->mb != o->mb || open->t0 != o->t0);
}

static pp_status take_control(pp_live *l)
{
    for (;;) {
        int flag = 0;
        if (MPI_Test(&l->ctl_req, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS) return PP_EMPI;
        if (!flag) return PP_OK;
        ctl_msg m = l->ctl_in;
        if (m.run == l->run) {
            if (m.what == CTL_PAUSE) l->paused = 1, l->reported = 0;
            if (m.what == CTL_RESUME) l->paused = 0, l->grants = 0;
            if (m.what == CTL_STEP) l->grants++;
            if (m.what == CTL_QUIT) l->quit = 1;
            if (m.what == CTL_TICK) l->tick_s = m.value;
            if (m.what == CTL_END) l->ended = 1;
        }
        if (MPI_Irecv(&l->ctl_in, (int)sizeof l->ctl_in, MPI_BYTE, 0, TAG_CTL, l->comm, &l->ctl_req) != MPI_SUCCESS)
            return PP_EMPI;
    }
}

/* Tells rank 0 where this rank holds (once per stop), so it can grant steps. */
static pp_status report_state(pp_live *l)
{
    if (l->reported) return PP_OK;
    l->reported = 1;
    if (l->rank == 0) {
        l->known[0] = l->done;
        l->rep[0] = 1;
        return PP_OK;
    }
    if (l->state_busy && MPI_Wait(&l->state_req, MPI_STATUS_IGNORE) != MPI_SUCCESS) return PP_EMPI;
    l->state_out = (state_msg){l->run, l->done};
    l->state_busy = 1;
    return MPI_Isend(&l->state_out, (int)sizeof l->state_out, MPI_BYTE, 0, TAG_STATE, l->comm, &l->state_req) ==
                   MPI_SUCCESS ? PP_OK : PP_EMPI;
}

/* Counts the compute actions this rank has run (rank 0 grants steps by them). */
static void count_done(pp_live *l, const pp_evlist *mine)
{
    for (; l->counted < mine->n; l->counted++) l->done += mine->ev[l->counted].type == PP_EV_COMPUTE;
}

static pp_status on_poll(void *ctx, const pp_evlist *mine, const pp_event *open, double now, int waiting)
{
    pp_live *l = ctx;
    pp_status st = PP_OK;
    count_done(l, mine);
    int ready = final_events(mine, l->sent);
    if (l->rank == 0) {
        if (l->view && (l->sent < ready || open_changed(l, open))) {
            pp_view_add(l->view, 0, mine->ev + l->sent, ready - l->sent, open);
            l->sent = ready;
            l->open_sent = *open;
        }
        for (int cmd; st == PP_OK && l->view && (cmd = pp_view_take_cmd(l->view)) != PP_CMD_NONE;)
            st = apply_key(l, cmd);
        if (st == PP_OK) st = take_messages(l);
        if (st == PP_OK && waiting && l->paused) st = report_state(l);
        while (st == PP_OK && l->paused && l->want_steps > 0) {
            int before = l->want_steps;
            st = grant_step(l);
            if (l->want_steps == before) break;
        }
        if (l->view) show_next(l);
        return st;
    }
    if (l->out_busy) {
        if (MPI_Test(&l->out_req, &l->out_busy, MPI_STATUS_IGNORE) != MPI_SUCCESS) return PP_EMPI;
        l->out_busy = !l->out_busy;
    }
    if (l->state_busy) {
        if (MPI_Test(&l->state_req, &l->state_busy, MPI_STATUS_IGNORE) != MPI_SUCCESS) return PP_EMPI;
        l->state_busy = !l->state_busy;
    }
    if (!l->out_busy && (l->sent < ready || open_changed(l, open)) && (now - l->last_flush >= FLUSH_S || l->paused)) {
        l->last_flush = now;
        st = flush_events(l, mine, ready, open, TAG_EVENTS);
    }
    if (st == PP_OK) st = take_control(l);
    if (st == PP_OK && waiting && l->paused) st = report_state(l);
    return st;
}

static int on_hold(void *ctx)
{
    pp_live *l = ctx;
    if (l->quit || !l->paused) return 0;
    if (l->grants > 0) {
        l->grants--;
        l->reported = 0;
        return 0;
    }
    return 1;
}

/* This rank's list is done.  Others send what is left of their events and
 * wait for rank 0's END; rank 0 keeps the view fed and the keys answered
 * until every rank's events are in, then takes the view's run: the step's
 * record, with nothing gathered twice. */
static pp_status on_end(void *ctx, const pp_evlist *mine, pp_run **all)
{
    pp_live *l = ctx;
    const double poll_s = 20e-6, nap_s = 1e-3;
    if (l->rank != 0) {
        if (l->out_busy && pp_wait(&l->out_req, poll_s) != PP_OK) return PP_EMPI;
        l->out_busy = 0;
        pp_event none = {.type = -1};
        if (flush_events(l, mine, mine->n, &none, TAG_DONE) != PP_OK) return PP_EMPI;
        l->out_busy = 0;
        if (pp_wait(&l->out_req, poll_s) != PP_OK) return PP_EMPI;
        if (l->state_busy && pp_wait(&l->state_req, poll_s) != PP_OK) return PP_EMPI;
        l->state_busy = 0;
        /* Rank 0's END comes after every control message it sent this rank
         * (same tag, same sender: they arrive in order), so once it is here
         * nothing of this step is left unreceived. */
        while (!l->ended) {
            if (take_control(l) != PP_OK) return PP_EMPI;
            if (!l->ended) pp_sleep_until(pp_now() + nap_s);
        }
        return PP_OK;
    }
    for (;;) {
        pp_event none = {.type = -1};
        pp_status st = on_poll(l, mine, &none, pp_now(), 1);
        if (st != PP_OK) return st;
        int every = 1;
        for (int r = 0; r < l->size; r++) every &= l->finished[r];
        if (every) break;
        pp_sleep_until(pp_now() + nap_s);
    }
    *all = pp_view_end_run(l->view, l->retimed, l->quit);
    pp_status st = tell_all(l, CTL_END, 0);
    return st == PP_OK && !*all ? PP_ENOMEM : st;
}

int pp_live_quit(pp_live *l)
{
    int q = l->quit;
    MPI_Bcast(&q, 1, MPI_INT, 0, l->comm);
    l->quit = q;
    return q;
}

int pp_live_hold(pp_live *l, const char *prompt)
{
    int verdict = 0;
    if (l->rank == 0) {
        verdict = l->view ? pp_view_wait_key(l->view, prompt) : 0;
        for (int r = 1; r < l->size; r++)
            MPI_Send(&verdict, 1, MPI_INT, r, TAG_VERDICT, l->comm);
    } else {
        /* A sleeping wait: the student may look at the picture for minutes. */
        MPI_Request rq;
        MPI_Irecv(&verdict, 1, MPI_INT, 0, TAG_VERDICT, l->comm, &rq);
        if (pp_wait(&rq, 5e-3) != PP_OK) verdict = 1;
    }
    return verdict;
}
