//! Field-level validation errors, collected so that one response lists everything wrong.
//!
//! Owns the shape of "what was wrong with your input": a JSON pointer-like field path, a stable
//! code and a message. The HTTP edge renders a [`FieldErrors`] as RFC 9457 `errors`.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Where the problem is: a body field (`selling_price`, `regional_names.IN-MH[0]`), a
    /// query parameter (`query.limit`) or a header (`header.If-Match`).
    pub field: String,
    /// Stable, machine-readable (`required`, `too_long`, `barcode_check_digit`, ...).
    pub code: String,
    pub message: String,
}

/// An accumulator of field errors; `finish` turns it into a result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let mut e = Self::new();
        e.add(field, code, message);
        e
    }

    pub fn add(
        &mut self,
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.0.push(FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        });
    }

    /// Records the error of `r` under `field` and returns its value, if any.
    pub fn check<T, E: std::fmt::Display + Coded>(
        &mut self,
        field: &str,
        r: Result<T, E>,
    ) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e.code(), format!("{field} {}", e).trim().to_string());
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` if no errors were recorded.
    pub fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, FieldErrors> {
        if self.0.is_empty() {
            Ok(value())
        } else {
            Err(self)
        }
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<&str> = self.0.iter().map(|e| e.message.as_str()).collect();
        f.write_str(&parts.join("; "))
    }
}

/// An error with a stable code, so [`FieldErrors::check`] can record it.
pub trait Coded {
    fn code(&self) -> &'static str;
}

impl Coded for crate::domain::GtinError {
    fn code(&self) -> &'static str {
        crate::domain::GtinError::code(self)
    }
}

impl Coded for crate::domain::AmountError {
    fn code(&self) -> &'static str {
        crate::domain::AmountError::code(self)
    }
}

impl Coded for crate::domain::IdError {
    fn code(&self) -> &'static str {
        "invalid_id"
    }
}

impl Coded for crate::domain::account::PhoneError {
    fn code(&self) -> &'static str {
        "invalid_phone"
    }
}

impl Coded for TextError {
    fn code(&self) -> &'static str {
        match self {
            TextError::Empty => "required",
            TextError::TooLong { .. } => "too_long",
            TextError::ControlChars => "control_characters",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("is longer than {max} characters")]
    TooLong { max: usize },
    #[error("must not contain control characters")]
    ControlChars,
}

/// Trims `s` and checks it is non-empty, at most `max` characters and free of control
/// characters (newlines are allowed only where `multiline`).
pub fn clean_text(s: &str, max: usize, multiline: bool) -> Result<String, TextError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(TextError::Empty);
    }
    if t.chars().count() > max {
        return Err(TextError::TooLong { max });
    }
    if t.chars()
        .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t')))
    {
        return Err(TextError::ControlChars);
    }
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(clean_text("  Tata Salt ", 10, false).unwrap(), "Tata Salt");
        assert_eq!(clean_text("   ", 10, false), Err(TextError::Empty));
        assert_eq!(clean_text("आशीर्वाद आटा", 12, false).unwrap(), "आशीर्वाद आटा");
        assert_eq!(
            clean_text("abcdefghijk", 10, false),
            Err(TextError::TooLong { max: 10 })
        );
        assert_eq!(clean_text("a\nb", 10, false), Err(TextError::ControlChars));
        assert_eq!(clean_text("a\nb", 10, true).unwrap(), "a\nb");
    }

    #[test]
    fn errors_accumulate() {
        let mut e = FieldErrors::new();
        assert_eq!(e.check("name", clean_text("", 5, false)), None);
        assert_eq!(
            e.check("brand", clean_text("ok", 5, false)),
            Some("ok".to_string())
        );
        assert_eq!(e.0.len(), 1);
        assert_eq!(e.0[0].code, "required");
        assert_eq!(e.0[0].message, "name must not be empty");
    }
}
