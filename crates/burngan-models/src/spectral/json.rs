//! A small JSON reader for the test fixtures (objects, arrays, numbers, strings, booleans,
//! null), so that the tests need no JSON dependency. Numbers are read as `f64`: the fixtures
//! write float32 values in Python's shortest round-trip form, which converts back exactly.

/// A parsed JSON value; objects keep their keys in file order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Why a fixture cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum JsonError {
    /// The text is not JSON.
    #[error("invalid JSON at byte {at}: {message}")]
    Syntax {
        /// The byte offset of the problem.
        at: usize,
        /// What was expected.
        message: String,
    },
    /// An object lacks a key.
    #[error("the fixture has no key `{0}`")]
    Missing(String),
    /// A value has another type than the reader expects.
    #[error("`{0}` has the wrong JSON type")]
    Type(String),
}

/// Parses a whole JSON document.
pub(crate) fn parse(text: &str) -> Result<Json, JsonError> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        at: 0,
    };
    let value = parser.value()?;
    parser.skip_whitespace();
    match parser.at == parser.bytes.len() {
        true => Ok(value),
        false => Err(parser.error("end of input")),
    }
}

impl Json {
    /// The value under `key` of an object.
    pub(crate) fn get(&self, key: &str) -> Result<&Json, JsonError> {
        match self {
            Json::Object(entries) => entries
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, value)| value)
                .ok_or_else(|| JsonError::Missing(key.to_string())),
            _ => Err(JsonError::Type(key.to_string())),
        }
    }

    /// A number.
    pub(crate) fn number(&self) -> Result<f64, JsonError> {
        match self {
            Json::Number(x) => Ok(*x),
            _ => Err(JsonError::Type("a number".to_string())),
        }
    }

    /// The elements of an array.
    pub(crate) fn array(&self) -> Result<&[Json], JsonError> {
        match self {
            Json::Array(items) => Ok(items),
            _ => Err(JsonError::Type("an array".to_string())),
        }
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn error(&self, expected: &str) -> JsonError {
        JsonError::Syntax {
            at: self.at,
            message: format!("expected {expected}"),
        }
    }

    fn skip_whitespace(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    /// Skips whitespace, then consumes `byte` if it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        self.skip_whitespace();
        let found = self.bytes.get(self.at) == Some(&byte);
        self.at += usize::from(found);
        found
    }

    fn value(&mut self) -> Result<Json, JsonError> {
        self.skip_whitespace();
        match self.bytes.get(self.at) {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(Json::String),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(_) => self.number(),
            None => Err(self.error("a value")),
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, JsonError> {
        match self.bytes[self.at..].starts_with(word.as_bytes()) {
            true => {
                self.at += word.len();
                Ok(value)
            }
            false => Err(self.error(word)),
        }
    }

    fn number(&mut self) -> Result<Json, JsonError> {
        let start = self.at;
        while self
            .bytes
            .get(self.at)
            .is_some_and(|b| b.is_ascii_digit() || b"+-.eE".contains(b))
        {
            self.at += 1;
        }
        std::str::from_utf8(&self.bytes[start..self.at])
            .ok()
            .and_then(|text| text.parse::<f64>().ok())
            .map(Json::Number)
            .ok_or_else(|| self.error("a number"))
    }

    /// A string without `\u` escapes (the fixtures have none).
    fn string(&mut self) -> Result<String, JsonError> {
        if !self.eat(b'"') {
            return Err(self.error("a string"));
        }
        let mut out = Vec::new();
        loop {
            let byte = *self.bytes.get(self.at).ok_or_else(|| self.error("`\"`"))?;
            self.at += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    let escaped = *self
                        .bytes
                        .get(self.at)
                        .ok_or_else(|| self.error("escape"))?;
                    self.at += 1;
                    out.push(match escaped {
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'"' | b'\\' | b'/' => escaped,
                        _ => return Err(self.error("a simple escape")),
                    });
                }
                _ => out.push(byte),
            }
        }
        String::from_utf8(out).map_err(|_| self.error("UTF-8"))
    }

    fn array(&mut self) -> Result<Json, JsonError> {
        self.eat(b'[');
        let mut items = Vec::new();
        if self.eat(b']') {
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value()?);
            if self.eat(b']') {
                return Ok(Json::Array(items));
            }
            if !self.eat(b',') {
                return Err(self.error("`,` or `]`"));
            }
        }
    }

    fn object(&mut self) -> Result<Json, JsonError> {
        self.eat(b'{');
        let mut entries = Vec::new();
        if self.eat(b'}') {
            return Ok(Json::Object(entries));
        }
        loop {
            self.skip_whitespace();
            let key = self.string()?;
            if !self.eat(b':') {
                return Err(self.error("`:`"));
            }
            entries.push((key, self.value()?));
            if self.eat(b'}') {
                return Ok(Json::Object(entries));
            }
            if !self.eat(b',') {
                return Err(self.error("`,` or `}`"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_values_and_reports_errors_with_their_offset() {
        let value =
            parse(r#" {"a": [1, -2.5e-3, 0.1], "b": {"c": "x\"y"}, "d": [true, null]} "#).unwrap();
        let a: Vec<f64> = value
            .get("a")
            .unwrap()
            .array()
            .unwrap()
            .iter()
            .map(|x| x.number().unwrap())
            .collect();
        assert_eq!(a, [1.0, -0.0025, 0.1]);
        assert_eq!(
            value.get("b").unwrap().get("c").unwrap(),
            &Json::String("x\"y".to_string())
        );
        assert_eq!(
            value.get("d").unwrap(),
            &Json::Array(vec![Json::Bool(true), Json::Null])
        );
        assert_eq!(value.get("e"), Err(JsonError::Missing("e".to_string())));
        // f32 values written by Python's repr come back exactly.
        let x = 0.123_456_79_f32;
        let text = format!("[{}]", f64::from(x));
        let read = parse(&text).unwrap().array().unwrap()[0].number().unwrap();
        assert_eq!(read as f32, x);
        assert_eq!(
            parse("[1, 2").unwrap_err().to_string(),
            "invalid JSON at byte 5: expected `,` or `]`"
        );
        assert_eq!(
            parse("{} x").unwrap_err().to_string(),
            "invalid JSON at byte 3: expected end of input"
        );
    }
}
