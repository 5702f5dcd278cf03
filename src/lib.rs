//! ferricorn's Rust core, exposed to Python as `ferricorn._ferricorn`.
pub mod http;
pub mod config;

use pyo3::prelude::*;

#[pyfunction]
fn run(_py: Python<'_>, argv: Vec<String>) -> PyResult<i32> {
    let _ = argv;
    Ok(0)
}

#[pymodule]
fn _ferricorn(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    Ok(())
}
