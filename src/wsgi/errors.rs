//! `wsgi.errors`: a text stream that writes to the server's error log.
//!
//! Must never: buffer across requests or raise because the log is
//! unwritable (the logging module swallows write errors).

use pyo3::prelude::*;

use crate::logging;

#[pyclass(module = "ferricorn", name = "ErrorStream")]
pub struct ErrorStream;

#[pymethods]
impl ErrorStream {
    fn write(&self, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        let s: String = match data.extract::<String>() {
            Ok(s) => s,
            Err(_) => data.str()?.to_string(),
        };
        logging::log_raw(s.as_bytes());
        Ok(s.len())
    }

    fn writelines(&self, lines: &Bound<'_, PyAny>) -> PyResult<()> {
        for line in lines.try_iter()? {
            self.write(&line?)?;
        }
        Ok(())
    }

    fn flush(&self) {}
}
