//! `wsgi.file_wrapper`: lets an application return a file so the server can
//! send it with `sendfile(2)` instead of passing it through Python.
//!
//! Owns: the wrapper object. When the application returns the wrapper itself
//! and the wrapped object has a `fileno()` of a regular file, the handler
//! duplicates the descriptor and the connection sends the file without the
//! GIL. Anything else (a BytesIO, a socket) is iterated in `blksize` reads.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

#[pyclass(module = "ferricorn", name = "FileWrapper")]
pub struct FileWrapper {
    pub filelike: Py<PyAny>,
    pub blksize: usize,
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, blksize=8192))]
    fn new(filelike: Py<PyAny>, blksize: usize) -> Self {
        FileWrapper {
            filelike,
            blksize: blksize.max(1),
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let chunk = self
            .filelike
            .bind(py)
            .call_method1("read", (self.blksize,))?;
        let empty = match chunk.cast::<PyBytes>() {
            Ok(b) => b.as_bytes().is_empty(),
            Err(_) => chunk.len().map(|n| n == 0).unwrap_or(false),
        };
        Ok(if empty { None } else { Some(chunk.unbind()) })
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let f = self.filelike.bind(py);
        if f.hasattr("close")? {
            f.call_method0("close")?;
        }
        Ok(())
    }
}
