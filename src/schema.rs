//! Typed reading of the project's TOML files: a file is deserialised straight into serde structs
//! (`deny_unknown_fields` on each), and a mismatch is reported with the dotted path of the field
//! (`model.experiment[1].c_rate`), its line and serde's own statement of what was expected.

use serde::de::DeserializeOwned;
use std::fmt;

/// Why TOML text does not fit its schema.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaError {
    /// The dotted path of the offending field (`inputs.a.sd`); empty for a syntax error.
    pub field: String,
    /// 1-based line of the offending text, when known.
    pub line: Option<usize>,
    /// What was found and what was expected (serde's wording), or the syntax error.
    pub message: String,
    /// True when the text is not TOML at all (as opposed to TOML of the wrong shape).
    pub syntax: bool,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self
            .line
            .map(|l| format!(" (line {l})"))
            .unwrap_or_default();
        if self.syntax || self.field.is_empty() {
            write!(f, "{}{at}", self.message)
        } else {
            write!(f, "field '{}'{at}: {}", self.field, self.message)
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn from_toml_error(
    text: Option<&str>,
    field: String,
    e: &toml::de::Error,
    syntax: bool,
) -> SchemaError {
    let line = match (text, e.span()) {
        (Some(t), Some(s)) => Some(line_of(t, s.start)),
        _ => None,
    };
    SchemaError {
        field,
        line,
        message: e.message().trim().replace('\n', " "),
        syntax,
    }
}

/// Parse TOML text into `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, SchemaError> {
    let de = toml::de::Deserializer::parse(text)
        .map_err(|e| from_toml_error(Some(text), String::new(), &e, true))?;
    serde_path_to_error::deserialize(de)
        .map_err(|e| from_toml_error(Some(text), path_of(&e), e.inner(), false))
}

/// Deserialise an already parsed TOML value (a section kept for a later reader) into `T`; the
/// field path is relative to the value.
pub fn from_value<T: DeserializeOwned>(value: toml::Value) -> Result<T, SchemaError> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| from_toml_error(None, path_of(&e), e.inner(), false))
}

fn path_of<E>(e: &serde_path_to_error::Error<E>) -> String {
    let p = e.path().to_string();
    if p == "." { String::new() } else { p }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        inner: Vec<Inner>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        x: f64,
    }

    #[test]
    fn a_mismatch_names_the_dotted_path_and_the_line() {
        let e = from_str::<Outer>("[[inner]]\nx = 1\n[[inner]]\nx = 'a'\n").unwrap_err();
        assert_eq!(e.field, "inner[1].x");
        assert_eq!(e.line, Some(4));
        assert!(e.message.contains("expected f64"), "{}", e.message);
        let e = from_str::<Outer>("[[inner]]\ny = 1\n").unwrap_err();
        assert_eq!(e.field, "inner[0].y");
        assert!(e.message.contains("unknown field `y`"), "{}", e.message);
        let e = from_str::<Outer>("inner = [").unwrap_err();
        assert!(e.syntax && e.line == Some(1), "{e:?}");
    }
}
