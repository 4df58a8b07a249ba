//! Typed access to the test fixtures' JSON, read by `serde_json` (with `float_roundtrip`: the
//! fixtures write float32 values in Python's shortest round-trip form, which come back exactly
//! through `f64`). A missing key or a value of the wrong type is an error that names it.

/// A parsed fixture value.
pub(crate) type Json = serde_json::Value;

/// Why a fixture cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JsonError {
    /// The text is not JSON.
    #[error("invalid JSON: {0}")]
    Syntax(#[from] serde_json::Error),
    /// An object lacks a key.
    #[error("the fixture has no key `{0}`")]
    Missing(String),
    /// A value has another type than the reader expects.
    #[error("`{0}` has the wrong JSON type")]
    Type(String),
}

/// Parses a whole JSON document.
pub(crate) fn parse(text: &str) -> Result<Json, JsonError> {
    Ok(serde_json::from_str(text)?)
}

/// Fallible accessors of a fixture value.
pub(crate) trait Fixture {
    /// The value under `key` of an object.
    fn field(&self, key: &str) -> Result<&Json, JsonError>;
    /// A number, as `f64`.
    fn number(&self) -> Result<f64, JsonError>;
    /// The elements of an array.
    fn array(&self) -> Result<&[Json], JsonError>;
}

impl Fixture for Json {
    fn field(&self, key: &str) -> Result<&Json, JsonError> {
        let object = self
            .as_object()
            .ok_or_else(|| JsonError::Type(key.to_string()))?;
        object
            .get(key)
            .ok_or_else(|| JsonError::Missing(key.to_string()))
    }

    fn number(&self) -> Result<f64, JsonError> {
        self.as_f64()
            .ok_or_else(|| JsonError::Type("a number".to_string()))
    }

    fn array(&self) -> Result<&[Json], JsonError> {
        self.as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| JsonError::Type("an array".to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_values_in_python_repr_come_back_exactly_and_errors_name_the_key() {
        let value = parse(r#"{"a": [1, -2.5e-3, 0.1], "b": {"c": 2}}"#).unwrap();
        let a: Vec<f64> = value
            .field("a")
            .unwrap()
            .array()
            .unwrap()
            .iter()
            .map(|x| x.number().unwrap())
            .collect();
        assert_eq!(a, [1.0, -0.0025, 0.1]);
        assert_eq!(
            value
                .field("b")
                .unwrap()
                .field("c")
                .unwrap()
                .number()
                .unwrap(),
            2.0
        );
        assert_eq!(
            value.field("e").unwrap_err().to_string(),
            "the fixture has no key `e`"
        );
        assert_eq!(
            value.field("b").unwrap().array().unwrap_err().to_string(),
            "`an array` has the wrong JSON type"
        );
        // Python's repr of an f32 widened to f64 (`float(np.float32(x))`) reads back to the f32.
        for x in [
            0.123_456_79_f32,
            1.0e-38,
            3.402_823_5e38,
            -f32::from_bits(5),
        ] {
            let text = format!("[{}]", f64::from(x));
            let read = parse(&text).unwrap().array().unwrap()[0].number().unwrap();
            assert_eq!(read as f32, x, "{text}");
        }
        assert!(parse("[1, 2").is_err());
    }
}
