/* gradviz.runlog._crcscan: the positions of every window of a stretch of bytes whose crc32 says it holds
 * a record, with a rolling crc32 (NOTE [a rolling crc32] in gradviz/runlog/_rolling.py).
 *
 * One function, intact_windows(data, size) -> bytes: the positions (native int64, ascending) of the
 * windows of `size` bytes of `data` (any contiguous bytes-like object) whose crc32 is RESIDUE, that is
 * whose last 4 bytes are the crc32 (zlib's, little-endian) of the bytes before them. The same positions as
 * zlib.crc32 on every window, and as the numpy fallback in _rolling.py (tests/runlog/test_rolling_crc.py).
 *
 * The crc32 is linear over GF(2): with r(w) the register zlib's loop leaves after the bytes w when it
 * starts from 0 and skips its final inversion, crc32(w) = r(w) ^ crc32(size zero bytes), and sliding the
 * window by one byte takes the byte leaving out with one look-up (out[a] = r of a followed by size - 1
 * zero bytes) and the byte entering in with zlib's own step. The positions are cut into STREAMS
 * stretches rolled side by side in one loop: each step's look-up waits on the one before, so independent
 * stretches keep the core busy while one waits. The GIL is released while it rolls.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RESIDUE 0x2144DF1Cu /* crc32(m + crc32(m).to_bytes(4, "little")) for every m */
#define STREAMS 4
#define ONE_STREAM 4096 /* positions below which one stretch is rolled */

static uint32_t table[256]; /* zlib's: reflected 0xEDB88320 */

static uint32_t step(uint32_t r, uint8_t byte) { return (r >> 8) ^ table[(r ^ byte) & 0xFF]; }

/* r(w): the register after the n bytes at p, from 0, no final inversion */
static uint32_t reg(const uint8_t *p, Py_ssize_t n) {
    uint32_t r = 0;
    for (Py_ssize_t i = 0; i < n; i++) r = step(r, p[i]);
    return r;
}

typedef struct {
    int64_t *at;
    Py_ssize_t n, cap;
} hits_t;

static int push(hits_t *h, int64_t position) {
    if (h->n == h->cap) {
        Py_ssize_t cap = h->cap ? 2 * h->cap : 64;
        int64_t *at = realloc(h->at, (size_t)cap * sizeof(int64_t));
        if (at == NULL) return -1;
        h->at = at;
        h->cap = cap;
    }
    h->at[h->n++] = position;
    return 0;
}

/* Roll STREAMS stretches [start[s], stop[s]) side by side; returns -1 when out of memory. */
static int roll(const uint8_t *p, Py_ssize_t size, Py_ssize_t count, int streams, const uint32_t out[256],
                uint32_t target, hits_t hits[STREAMS]) {
    Py_ssize_t start[STREAMS], stop[STREAMS];
    uint32_t r[STREAMS];
    Py_ssize_t length = (count + streams - 1) / streams, shortest = length;
    for (int s = 0; s < streams; s++) {
        start[s] = s * length < count ? s * length : count;
        stop[s] = start[s] + length < count ? start[s] + length : count;
        if (stop[s] - start[s] < shortest) shortest = stop[s] - start[s];
        r[s] = start[s] < stop[s] ? reg(p + start[s], size) : 0;
    }
    /* side by side while every stretch has a position after this one */
    for (Py_ssize_t k = 0; k + 1 < shortest; k++) {
        for (int s = 0; s < streams; s++) {
            Py_ssize_t i = start[s] + k;
            if (r[s] == target && push(&hits[s], i) < 0) return -1;
            r[s] = step(r[s] ^ out[p[i]], p[i + size]);
        }
    }
    /* each stretch's rest, one after the other */
    for (int s = 0; s < streams; s++) {
        Py_ssize_t first = start[s] + (shortest > 1 ? shortest - 1 : 0);
        uint32_t x = r[s];
        for (Py_ssize_t i = first; i < stop[s]; i++) {
            if (x == target && push(&hits[s], i) < 0) return -1;
            if (i + 1 < stop[s]) x = step(x ^ out[p[i]], p[i + size]);
        }
    }
    return 0;
}

static PyObject *intact_windows(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer view;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "y*n:intact_windows", &view, &size)) return NULL;
    if (size < 5) {
        PyBuffer_Release(&view);
        return PyErr_Format(PyExc_ValueError, "a window holds a record and its crc32: size >= 5, got %zd", size);
    }
    const uint8_t *p = (const uint8_t *)view.buf;
    Py_ssize_t count = view.len - size + 1;
    if (count <= 0) {
        PyBuffer_Release(&view);
        return PyBytes_FromStringAndSize(NULL, 0);
    }
    hits_t hits[STREAMS] = {{NULL, 0, 0}};
    int failed;
    Py_BEGIN_ALLOW_THREADS
    uint32_t out[256], zeros = 0xFFFFFFFFu;
    for (Py_ssize_t i = 0; i < size; i++) zeros = step(zeros, 0);
    uint32_t target = RESIDUE ^ ~zeros; /* r(w) of a window whose crc32 is RESIDUE */
    uint32_t bit[8];                    /* out[] is linear in the byte: built from its 8 bits */
    for (int b = 0; b < 8; b++) {
        bit[b] = table[1u << b];
        for (Py_ssize_t i = 1; i < size; i++) bit[b] = step(bit[b], 0);
    }
    for (int a = 0; a < 256; a++) {
        out[a] = 0;
        for (int b = 0; b < 8; b++)
            if (a >> b & 1) out[a] ^= bit[b];
    }
    failed = roll(p, size, count, count < ONE_STREAM ? 1 : STREAMS, out, target, hits);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyObject *result = NULL;
    if (failed) {
        PyErr_NoMemory();
    } else {
        Py_ssize_t total = 0;
        for (int s = 0; s < STREAMS; s++) total += hits[s].n;
        result = PyBytes_FromStringAndSize(NULL, total * (Py_ssize_t)sizeof(int64_t));
        if (result != NULL) {
            char *to = PyBytes_AS_STRING(result);
            for (int s = 0; s < STREAMS; s++) {
                if (hits[s].n) memcpy(to, hits[s].at, (size_t)hits[s].n * sizeof(int64_t));
                to += hits[s].n * (Py_ssize_t)sizeof(int64_t);
            }
        }
    }
    for (int s = 0; s < STREAMS; s++) free(hits[s].at);
    return result;
}

static PyMethodDef methods[] = {
    {"intact_windows", intact_windows, METH_VARARGS,
     "intact_windows(data, size) -> bytes: the positions (native int64, ascending) of the windows of size "
     "bytes of data whose crc32 is RESIDUE (their last 4 bytes are the crc32 of the bytes before)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_crcscan",
    .m_doc = "A rolling crc32 over every window of a stretch of bytes.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__crcscan(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[n] = c;
    }
    return PyModule_Create(&module);
}
