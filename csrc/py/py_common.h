/* Shared declarations of the binding layer: module.c and py_*.c are the only
 * C files that include Python.h.
 * Lock order: the GIL may be held while the hub mutex is taken, never the
 * reverse. Hub callbacks run under the hub mutex; those that build Python
 * objects run on a thread that already holds the GIL and never release it. */
#ifndef FASTSIO_PY_COMMON_H
#define FASTSIO_PY_COMMON_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "frame.h"
#include "hub.h"

typedef struct {
    PyTypeObject *hub_type;
} fastsio_state;

/* Adds the Hub type to the module and stores it in the module state. 0 / -1. */
int fastsio_add_hub_type(PyObject *module, fastsio_state *st);

/* A str as UTF-8 (borrowed from the str's cache) or bytes as is; TypeError
 * otherwise. 0 / -1 with an exception set. */
int fastsio_as_str(PyObject *o, fio_str *out);

/* Converts one outbound message item to a new frame: str -> text MESSAGE
 * ("4" + utf-8), bytes-like -> binary MESSAGE. NULL with an exception set. */
fio_frame *fastsio_message_frame(PyObject *item);

/* Python object for a queued frame: text -> str, binary -> bytes. New ref. */
PyObject *fastsio_frame_object(const fio_frame *f);

#endif
