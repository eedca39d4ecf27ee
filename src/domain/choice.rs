//! Closed sets of values that travel as strings (statuses, impacts, roles).

use super::FieldError;

/// A value from a closed set, each with its wire code and a label for people.
pub trait Choice: Copy + PartialEq + Sized + 'static {
    /// Every value with its code (as in the database and JSON) and its label.
    const ALL: &'static [(Self, &'static str, &'static str)];

    fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(v, _, _)| *v == self)
            .map_or("", |(_, code, _)| code)
    }

    fn label(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(v, _, _)| *v == self)
            .map_or("", |(_, _, label)| label)
    }

    /// Parses a code, naming the field and the accepted codes when it is unknown.
    fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let raw = raw.trim();
        Self::ALL
            .iter()
            .find(|(_, code, _)| *code == raw)
            .map(|(v, _, _)| *v)
            .ok_or_else(|| {
                let codes: Vec<&str> = Self::ALL.iter().map(|(_, c, _)| *c).collect();
                FieldError::new(
                    field,
                    format!(
                        "unknown value \"{raw}\"; expected one of {}",
                        codes.join(", ")
                    ),
                )
            })
    }

    /// Reads a code stored by Herald itself; an unknown one means a damaged row.
    fn from_stored(raw: &str) -> Result<Self, String> {
        Self::parse("stored value", raw).map_err(|e| e.message)
    }
}
