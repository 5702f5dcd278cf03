//! Taking the GIL from Rust code that may run on any thread of a worker.
//!
//! Owns: [`with_gil`], the one way the core's own code (logging into Python,
//! signal hooks, `--reload`, log reopening) enters Python outside a call
//! from Python.
//!
//! Why not `Python::attach`: in `--threads N` mode the event-loop thread is
//! the thread that entered `_ferricorn.run` from Python, and it released the
//! GIL with `PyEval_SaveThread` behind pyo3's back (pyo3 offers no safe way
//! to hand a non-`Send` runtime to `detach`). pyo3 still counts the GIL as
//! held there and `attach` would run Python without it. `PyGILState_Ensure`
//! asks CPython instead, which knows: it restores this thread's state when
//! the GIL is not held, and only counts when it is.
//!
//! Must never: be called from a thread that holds a Rust lock the GIL holder
//! may wait for (it blocks until the GIL is free).

use pyo3::Python;

/// Runs `f` with the GIL, taken through CPython's own bookkeeping.
pub fn with_gil<R>(f: impl FnOnce(Python<'_>) -> R) -> R {
    // SAFETY: PyGILState_Ensure/Release pair around `f`; while `f` runs
    // this thread holds the GIL, which is what assume_attached requires.
    unsafe {
        let state = pyo3::ffi::PyGILState_Ensure();
        let r = f(Python::assume_attached());
        pyo3::ffi::PyGILState_Release(state);
        r
    }
}
