//! burngan-metrics' integration tests in one binary (Burn links once): reference values
//! computed independently with NumPy/SciPy/mpmath, closed-form properties, and the error of
//! every bad input.

mod errors;
mod properties;
mod reference_values;
