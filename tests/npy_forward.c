/* npy_forward.c -- reads what --dump wrote and runs the model's forward pass
 * on it from the files alone, with plain loops in double: the input through
 * every block's W1, b1, W2 and b2, compared with the output file.  It knows
 * nothing of the library, so it checks what a student loading the files
 * with numpy.load would see: every array in the model's own layout (W1 width
 * x hidden, W2 hidden x width) and numbers that give the output.
 *
 *   ./tests/npy_forward DIR DEPTH     prints "max |difference| X of N
 *                                     outputs", exit 0 if X is below 1e-4,
 *                                     else exit 1 (or a line saying why)
 *
 * The weights in DIR are those after the last step's update; run the demo
 * with a tiny --lr so that the update is far below the tolerance.
 * Left out on purpose: any .npy other than 2-D little-endian float32.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int rows, cols;
    float *v;
} array;

/* Loads DIR/NAME.npy; exits with a message when it is missing or malformed. */
static array load(const char *dir, const char *name)
{
    char path[4096], head[256];
    array a = {0, 0, NULL};
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    FILE *f = fopen(path, "rb");
    unsigned char pre[10];
    if (!f || fread(pre, 1, 10, f) != 10 || memcmp(pre + 1, "NUMPY", 5) != 0) {
        printf("%s: missing or not a .npy file\n", path);
        exit(1);
    }
    size_t n = (size_t)pre[8] | (size_t)pre[9] << 8;
    const char *shape;
    if (n >= sizeof head || fread(head, 1, n, f) != n || (head[n] = '\0', !strstr(head, "'<f4'")) ||
        !(shape = strstr(head, "'shape': (")) || sscanf(shape, "'shape': (%d, %d)", &a.rows, &a.cols) != 2) {
        printf("%s: not a 2-D float32 array\n", path);
        exit(1);
    }
    a.v = malloc((size_t)a.rows * a.cols * sizeof *a.v);
    if (!a.v || fread(a.v, sizeof *a.v, (size_t)a.rows * a.cols, f) != (size_t)a.rows * a.cols) {
        printf("%s: shorter than its shape (%d, %d)\n", path, a.rows, a.cols);
        exit(1);
    }
    fclose(f);
    return a;
}

static void expect(const char *name, const array *a, int rows, int cols)
{
    if (a->rows == rows && a->cols == cols) return;
    printf("%s: shape (%d, %d), expected (%d, %d)\n", name, a->rows, a->cols, rows, cols);
    exit(1);
}

static double gelu(double h)
{
    return 0.5 * h * (1.0 + tanh(0.7978845608028654 * (h + 0.044715 * h * h * h)));
}

int main(int argc, char **argv)
{
    if (argc != 3 || atoi(argv[2]) < 1) {
        fprintf(stderr, "usage: npy_forward DIR DEPTH\n");
        return 2;
    }
    const char *dir = argv[1];
    int depth = atoi(argv[2]);
    array in = load(dir, "input"), out = load(dir, "output");
    int rows = in.rows, d = in.cols;
    expect("output", &out, rows, d);
    double *x = malloc((size_t)rows * d * sizeof *x), *y = malloc((size_t)rows * d * sizeof *y), *a = NULL;
    for (long i = 0; i < (long)rows * d; i++) x[i] = in.v[i];
    static const char *part[4] = {"W1", "b1", "W2", "b2"};
    for (int l = 0; l < depth; l++) {
        char name[4][32];
        array p[4];
        for (int k = 0; k < 4; k++) {
            snprintf(name[k], sizeof name[k], "block%d_%s", l, part[k]);
            p[k] = load(dir, name[k]);
        }
        int f = p[0].cols;
        expect(name[0], &p[0], d, f), expect(name[1], &p[1], 1, f), expect(name[2], &p[2], f, d);
        expect(name[3], &p[3], 1, d);
        a = realloc(a, (size_t)rows * f * sizeof *a);
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < f; j++) {   /* a = gelu(x W1 + b1) */
                double s = p[1].v[j];
                for (int i = 0; i < d; i++) s += x[(long)r * d + i] * p[0].v[(long)i * f + j];
                a[(long)r * f + j] = gelu(s);
            }
            for (int j = 0; j < d; j++) {   /* y = x + a W2 + b2 */
                double s = x[(long)r * d + j] + p[3].v[j];
                for (int i = 0; i < f; i++) s += a[(long)r * f + i] * p[2].v[(long)i * d + j];
                y[(long)r * d + j] = s;
            }
        }
        memcpy(x, y, (size_t)rows * d * sizeof *x);
        for (int k = 0; k < 4; k++) free(p[k].v);
    }
    double worst = 0;
    for (long i = 0; i < (long)rows * d; i++) worst = fmax(worst, fabs(x[i] - out.v[i]));
    printf("max |difference| %.3g of %ld outputs\n", worst, (long)rows * d);
    free(x), free(y), free(a), free(in.v), free(out.v);
    return worst < 1e-4 ? 0 : 1;
}
